// The `netfs` command's subcommands, one function each, called by main after CLI11 has
// parsed the arguments. Each returns the process exit code and prints its own messages.
#pragma once

#include <optional>
#include <string>

namespace netfs::cli {

int cmd_umount(const std::string& mountpoint);
enum class StatsFormat { kText, kJson, kPrometheus };
// watch_seconds > 0: print rates every that many seconds, count lines (0: until killed).
int cmd_stats(const std::string& mountpoint, StatsFormat format, double watch_seconds, long count);
int cmd_trace(const std::string& mountpoint, bool follow);
// target: a mountpoint, or a cache directory no mount is using. json: the raw object.
int cmd_cache(const std::string& target, bool drop, bool json);
// `netfs cache --new-key FILE`: a fresh key for -o cache_key (never overwrites a file).
int cmd_new_cache_key(const std::string& path);
// `netfs spool [DIR]`: what waits in a spool directory (default: the per-user one).
int cmd_spool(const std::string& dir, const std::string& key_file = "");
// mount(8)'s helper convention: mount.netfs SPEC DIR [-sfnv] [-o OPTIONS].
int mount_helper_main(int argc, char** argv);

// The canonical path of a mountpoint, falling back to the absolute path as given when it
// cannot be resolved (a dead FUSE mount answers ENOTCONN to stat).
std::string canonical_mountpoint(const std::string& path);
// The canonical mountpoint of `given` if a netfs mount is there; else prints why not (not
// a mount point, or another filesystem, which is left alone) and returns nothing: the
// command then exits with status 2.
std::optional<std::string> netfs_mountpoint(const std::string& given);

}  // namespace netfs::cli
