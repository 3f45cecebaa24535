// `netfs cache MOUNTPOINT|DIR [--drop]`: the local cache's usage, hit rate and object
// counts, from a running mount (over its control socket) or from a cache directory no
// mount is using; --drop empties it (a mount's open files are emptied in place, a
// directory in use by a mount is refused).
#include <cstdio>
#include <string>

#include "cache/store.h"
#include "fuse/control_channel.h"
#include "tools/netfs/commands.h"

namespace netfs::cli {

int cmd_cache(const std::string& target, bool drop) {
  std::string why;
  std::string mp = canonical_mountpoint(target);
  auto r = fuse::control_request(mp, drop ? "cache drop" : "cache", &why, 60000);
  if (r.ok()) {
    fputs(r->c_str(), stdout);
    return 0;
  }
  // Not a mount that answered: a cache directory, then.
  auto info = cache::Store::inspect(target);
  if (!info.ok()) {
    fprintf(stderr, "netfs: %s: %s\n", target.c_str(), why.c_str());
    return 1;
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
