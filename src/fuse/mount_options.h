// MountOptions: everything `netfs mount -o ...` can set, with defaults, units and the
// range each value must fall in, and the parser for the comma-separated option string.
// An unknown option, a malformed value or one out of range is refused with a message
// that names it: a mount that silently ignored "dirty_limt=1G" would surprise its user.
//
// Threading: plain values and a pure function.
// MountOptions: everything `netfs mount -o ...` can set, and the one table of options
// (name, kind, the layer's field it sets, range, help) that the parser, `netfs mount
// --help`, netfs(1) and the options table in docs/fuse.md are all made from. A default is
// written once, as the default of the layer's own field (include/netfs/options.h,
// p9::ClientOptions, cache::StoreOptions, the fuse fields below); the table shows it by
// reading a default-constructed MountOptions. An unknown option, a malformed value or one
// out of range is refused with a message that names it: a mount that silently ignored
// "dirty_limt=1G" would surprise its user.
//
// Threading: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "cache/store.h"
#include "netfs/options.h"
#include "netfs/result.h"
#include "p9/client.h"

namespace netfs::fuse {

struct MountOptions {
  // Each layer's own options, embedded whole: the table sets their fields directly.
  // The mount runs more collector threads than the engine's default (a FUSE mount has
  // many concurrent readers and writers).
  Options engine = [] {
    Options o;
    o.worker_threads = 4;
    return o;
  }();
  p9::ClientOptions p9;       // endpoint, aname and n_uname are set from the URL at connect
  cache::StoreOptions cache;  // off without cache.dir
  // Server fids the mount keeps for files nobody has open (walked names, idle I/O fids):
  // beyond this many, the least recently used are closed and walked again when needed.
  // Open files and fids in use are never closed, so the count may exceed it meanwhile.
  uint64_t max_fids = 512;
  // Threads that fetch a directory listing's attributes in parallel (readdirplus).
  uint32_t attr_threads = 8;
  // kernel caching
  double attr_timeout = 1.0;                      // seconds the kernel trusts attributes
  double entry_timeout = 1.0;                     // seconds the kernel trusts names
  bool direct_io = false;                         // bypass the kernel page cache (no shared mmap)
  // What the mount shows, not what the server has (as sshfs's and mount.cifs's options):
  // every file's owner and group, and permission bits masked off.
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  uint32_t umask = 0;
  // where dirty data that cannot be written before the daemon exits is saved (src/fuse/
  // spool.h); "": cache.dir/spool, else a per-user default
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
  uint32_t threads = 16;                          // FUSE worker threads at most
  std::string log_file;                           // where the daemon's messages go ("": next to the control socket)
  bool debug = false;                             // log every FUSE request

  // Whether the kernel checks modes against the caller (FUSE's default_permissions).
  // allow_other turns it on unless no_default_permissions says otherwise: without it the
  // daemon, attached as one user, would act for every local user with that user's rights.
  bool kernel_checks_permissions() const {
    return default_permissions || (allow_other && !no_default_permissions);
  }
};

// What an option's value is; it decides the parser, the value hint and the range text.
enum class OptionKind {
  kSize,      // bytes, K/M/G/T suffixes (powers of 1024)
  kCount,     // a plain number
  kDuration,  // "500ms", "5s", "5" (seconds); lo/hi in milliseconds
  kSeconds,   // seconds as a decimal number ("0.5")
  kOctal,     // permission bits
  kPath,      // an absolute path
  kText,      // anything; the row's apply checks it
  kUser,      // a user name or number
  kGroup,     // a group name or number
  kFlag,      // no value: sets its bool field to flag_sets
};

// The field a row sets, inside a MountOptions.
using OptionField = std::variant<uint64_t*, uint32_t*, std::chrono::milliseconds*, double*, bool*, std::string*,
                                 std::optional<uint32_t>*, p9::Auth*>;

// One row of the option table.
struct MountOptionSpec {
  std::string_view name;
  OptionKind kind;
  std::string_view field;                 // the field it sets, as written in MountOptions ("engine.dirty_limit")
  OptionField (*at)(MountOptions& o);     // that field
  uint64_t lo = 0, hi = 0;                // numeric range (kSize, kCount, kDuration, kSeconds, kOctal)
  std::string_view meaning;               // one line, for --help, netfs(1) and docs/fuse.md
  std::string_view more = {};             // docs/fuse.md only: what a reader needs beyond the line
  std::string_view default_note = {};     // what the default means; replaces an empty one
  std::string_view range_note = {};       // replaces the range made from lo and hi
  std::string_view hint = {};             // replaces the value hint of the kind
  bool flag_sets = true;                  // kFlag: the value it stores
  // Replaces the generic setter (checks the kind cannot, effects on other fields);
  // false: the value is refused.
  bool (*apply)(std::string_view value, MountOptions* o) = nullptr;
};
std::span<const MountOptionSpec> mount_option_table();
// "SIZE", "DURATION", ...; empty for a flag.
std::string_view option_value_hint(const MountOptionSpec& s);
// The default, read from a default-constructed MountOptions ("256M", "5s", "on").
std::string option_default(const MountOptionSpec& s);
// What a value must be ("a size from 4K to 16M"); empty for a flag. A refusal quotes it.
std::string option_range(const MountOptionSpec& s);
// Every option with its default and range, for `netfs mount --help`.
std::string mount_options_help();
// The options table of docs/fuse.md (markdown), which a test holds the doc to.
std::string mount_options_markdown();

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
