// MountOptions: everything `netfs mount -o ...` can set, with defaults, units and the
// range each value must fall in, and the parser for the comma-separated option string.
// An unknown option, a malformed value or one out of range is refused with a message
// that names it: a mount that silently ignored "dirty_limt=1G" would surprise its user.
//
// Threading: plain values and a pure function.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "netfs/result.h"

namespace netfs::fuse {

struct MountOptions {
  // 9P
  uint32_t msize = 1u << 20;                      // asked for; the server may grant less
  std::chrono::milliseconds timeout{30000};       // per-RPC limit, reconnect waits included
  std::string uname = "root";                     // attach name; a URL's USER@ sets it too
  std::string auth = "auto";                      // auto, none or munge (p9::Auth)
  unsigned conns = 1;                             // connections to the server; data RPCs spread over them
  // Server fids the mount keeps for files nobody has open (walked names, idle I/O fids):
  // beyond this many, the least recently used are closed and walked again when needed.
  // Open files and fids in use are never closed, so the count may exceed it meanwhile.
  size_t max_fids = 512;
  // engine
  uint64_t memory = 0;                            // folio budget (0: a quarter of RAM)
  uint64_t dirty_limit = 256ull << 20;
  std::chrono::milliseconds writeback_delay{5000};
  unsigned retries = 10;
  uint64_t readahead_max = 8ull << 20;
  // kernel caching
  double attr_timeout = 1.0;                      // seconds the kernel trusts attributes
  double entry_timeout = 1.0;                     // seconds the kernel trusts names
  bool direct_io = false;                         // bypass the kernel page cache (no shared mmap)
  // What the mount shows, not what the server has (as sshfs's and mount.cifs's options):
  // every file's owner and group, and permission bits masked off.
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  uint32_t umask = 0;
  // local persistent cache (docs/cache.md); off without cache_dir
  std::string cache_dir;                          // absolute path
  uint64_t cache_size = 1ull << 30;               // bytes of cached file data at most
  uint64_t cache_min_free = 0;                    // free bytes to leave on its filesystem (0: 2%)
  // where dirty data that cannot be written before the daemon exits is saved (src/fuse/
  // spool.h); "": cache_dir/spool, else a per-user default
  std::string spool_dir;                          // absolute path
  // FUSE mount flags passed through
  bool allow_other = false;
  bool default_permissions = false;
  bool no_default_permissions = false;            // allow_other without the kernel's mode checks (docs/fuse.md, Security)
  // Per-mount flags, as mount(8) names them; the defaults are FUSE's (nosuid, nodev) and
  // the kernel's (exec, relatime), so a mount is never more permissive than asked.
  bool read_only = false;
  bool noexec = false;
  bool nosuid = true;
  bool nodev = true;
  bool noatime = false;
  bool sync = false;                              // every write reaches the server before it returns
  bool dirsync = false;
  // daemon
  unsigned threads = 16;                          // FUSE worker threads at most
  std::string log_file;                           // where the daemon's messages go ("": next to the control socket)
  bool debug = false;                             // log every FUSE request

  // Whether the kernel checks modes against the caller (FUSE's default_permissions).
  // allow_other turns it on unless no_default_permissions says otherwise: without it the
  // daemon, attached as one user, would act for every local user with that user's rights.
  bool kernel_checks_permissions() const {
    return default_permissions || (allow_other && !no_default_permissions);
  }
};

// One row of the option table, which the parser and `netfs mount --help` share.
struct MountOptionSpec {
  std::string_view name;
  std::string_view value_hint;     // "SIZE", "DURATION", ...; empty for a flag
  std::string_view default_value;  // as help shows it
  std::string_view range;          // what a value must be; a refusal quotes it
  std::string_view meaning;
  bool (*apply)(std::string_view value, MountOptions* o);  // false: the value is refused
};
std::span<const MountOptionSpec> mount_option_table();
// Every option with its default and range, for `netfs mount --help`.
std::string mount_options_help();

// Parses "msize=65536,dirty_limit=64M,..." into *out (starting from out's current values).
// Sizes take K/M/G suffixes (powers of 1024); durations take ms or s (plain: seconds).
// On error returns EINVAL and sets *why to a sentence naming the option.
Status parse_mount_options(std::string_view text, MountOptions* out, std::string* why);

// The option string mount(8) hands a helper, minus the generic options that only mount(8)
// itself acts on (defaults, auto, noauto, user, users, _netdev, nofail, x-*, comment=).
// Mount flags (ro, noexec, nosuid, ...) stay: the mount applies them.
std::string strip_generic_mount_options(std::string_view text);

// The attach name as a numeric uid, when it is one: Tattach then carries it as n_uname.
// A name is not (nullopt, ok); digits that do not fit below 9P's "no uid" (2^32-1) are an
// error rather than a wrapped uid, which could silently attach as root.
Result<std::optional<uint32_t>> numeric_uname(std::string_view uname);

}  // namespace netfs::fuse
