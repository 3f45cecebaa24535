// mount.netfs: what mount(8) runs for `mount -t netfs SPEC DIR -o OPTS` and for fstab
// lines of type netfs:
//   9p://127.0.0.1:564/srv/export  /mnt/remote  netfs  msize=1M,_netdev  0 0
// mount(8) passes options it understands itself as well; those are dropped here.
#include <cstdio>
#include <cstring>
#include <string>

#include "fuse/mount_options.h"
#include "fuse/mount_session.h"
#include "tools/netfs/commands.h"
#include "tools/netfs/mount_wiring.h"

namespace netfs::cli {

int mount_helper_main(int argc, char** argv) {
  fuse::MountRequest req;
  std::string opts;
  int pos = 0;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "-o" && i + 1 < argc) {
      opts += (opts.empty() ? "" : ",") + std::string(argv[++i]);
    } else if (a.starts_with("-o")) {
      opts += (opts.empty() ? "" : ",") + a.substr(2);
    } else if (a == "-f") {
      req.foreground = true;
    } else if (a == "-s" || a == "-n" || a == "-v") {
      // sloppy, no mtab, verbose: nothing to do
    } else if (pos == 0) {
      req.remote = a, pos++;
    } else if (pos == 1) {
      req.mountpoint = a, pos++;
    } else {
      fprintf(stderr, "mount.netfs: unexpected argument %s\n", a.c_str());
      return 2;
    }
  }
  if (pos != 2) {
    fprintf(stderr, "usage: mount.netfs 9p://HOST:PORT/EXPORT MOUNTPOINT [-o OPTIONS]\n");
    return 2;
  }
  req.options = fuse::strip_generic_mount_options(opts);
  req.build = build_mount;
  return fuse::run_mount(req);
}

}  // namespace netfs::cli
