// `netfs cache MOUNTPOINT|DIR [--drop]`: the local cache's usage, hit rate and object
// counts, from a running mount (over its control socket) or from a cache directory no
// mount is using; --drop empties it (a mount's open files are emptied in place, a
// directory in use by a mount is refused).
#include <cstdio>
#include <string>

#include "cache/store.h"
#include "fuse/control_channel.h"
#include "fuse/mount_table.h"
#include "tools/netfs/commands.h"

namespace netfs::cli {

int cmd_cache(const std::string& target, bool drop) {
  std::string why;
  std::string mp = canonical_mountpoint(target);
  auto m = fuse::mount_at(mp);
  if (m && fuse::is_netfs(*m)) {
    auto r = fuse::control_request(mp, drop ? "cache drop" : "cache", &why, 60000);
    if (!r.ok()) {
      fprintf(stderr, "netfs: %s\n", why.c_str());
      return 1;
    }
    fputs(r->c_str(), stdout);
    return 0;
  }
  // Not a netfs mount: a cache directory, then (which may be a mount of its own).
  auto info = cache::Store::inspect(target);
  if (!info.ok()) {
    if (m)
      fprintf(stderr, "netfs: %s is not a netfs mount (it is %s, type %s) nor a cache directory; left alone\n",
              mp.c_str(), m->source.c_str(), m->fstype.c_str());
    else
      fprintf(stderr, "netfs: %s is neither a netfs mount nor a cache directory (%s)\n", target.c_str(),
              info.error().message().c_str());
    return 2;
  }
  if (drop) {
    Status st = cache::Store::drop_dir(target);
    if (!st.ok()) {
      fprintf(stderr, "netfs: cannot drop the cache in %s: %s\n", target.c_str(), st.error().message().c_str());
      return 1;
    }
    // What is left after the drop (the inspection above was before it).
    info = cache::Store::inspect(target);
    if (!info.ok()) {
      fprintf(stderr, "netfs: %s is neither a netfs mount nor a cache directory (%s)\n", target.c_str(),
              why.empty() ? info.error().message().c_str() : why.c_str());
      return 1;
    }
  }
  printf("%s\n", info->c_str());
  return 0;
}

}  // namespace netfs::cli
