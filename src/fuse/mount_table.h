// MountTable: what the kernel has mounted at a path, read from /proc/self/mountinfo, and
// whether that is one of our mounts. `netfs umount|stats|trace|cache` act on a path only
// after this says it is a netfs FUSE mount, so that they never unmount or poke at a
// filesystem that is not ours (a tmpfs, /proc).
//
// Threading: plain functions reading /proc; callable from any thread.
#pragma once

#include <optional>
#include <string>

namespace netfs::fuse {

// The fstype mountinfo shows for our mounts: "fuse." + the subtype MountSession passes.
inline constexpr const char* kNetfsFsType = "fuse.netfs";

struct MountEntry {
  std::string mountpoint;
  std::string fstype;  // "fuse.netfs", "tmpfs", "proc", ...
  std::string source;  // for ours, the remote URL (the fsname MountSession passes)
};

// The mount on top at path (canonical), or nothing when path is not a mountpoint.
std::optional<MountEntry> mount_at(const std::string& path);

inline bool is_netfs(const MountEntry& m) { return m.fstype == kNetfsFsType; }

}  // namespace netfs::fuse
