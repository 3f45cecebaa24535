// MountSession: `netfs mount` from parsed arguments to a running daemon. It checks the
// arguments and the mountpoint, forks the daemon (unless foreground), which connects,
// mounts, starts the control channel, and only then tells the waiting parent "ready" (or
// why not) through a pipe, so that `netfs mount` returns when the mount can be used and
// exits non-zero with the daemon's reason when it cannot.
//
// Threading: called once, from main, before any thread exists (it forks).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "netfs/result.h"

namespace netfs::fuse {

class Filesystem;
struct MountOptions;
struct RemoteUrl;

// Builds the mount's Filesystem for a URL (the netfs tool's wiring, tools/netfs/
// mount_wiring.h): called in the daemon, after the fork. On failure *why says why.
using MountBuilder = std::function<Result<std::unique_ptr<Filesystem>>(const RemoteUrl&, const MountOptions&,
                                                                       std::string* why)>;

struct MountRequest {
  std::string remote;      // 9p://HOST:PORT/EXPORT
  std::string mountpoint;
  std::string options;     // -o text
  bool foreground = false;
  MountBuilder build;
};

// Exit codes: 0 mounted (and, in the foreground, later unmounted cleanly), 1 the mount
// failed (unreachable server, refused export, busy or missing mountpoint), 2 bad options.
int run_mount(const MountRequest& req);

// Whether path (canonical) is a mountpoint, per /proc/self/mountinfo.
bool is_mountpoint(const std::string& path);

}  // namespace netfs::fuse
