#include "fuse/mount_options.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <vector>

namespace netfs::fuse {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    size_t i = s.find(sep);
    std::string_view part = s.substr(0, i);
    if (!part.empty()) out.push_back(part);
    if (i == std::string_view::npos) break;
    s.remove_prefix(i + 1);
  }
  return out;
}

bool parse_u64(std::string_view s, uint64_t* v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

// "64M" -> 67108864. Overflow and junk are refused.
bool parse_size(std::string_view s, uint64_t* v) {
  uint64_t mul = 1;
  if (!s.empty()) {
    switch (s.back()) {
      case 'k': case 'K': mul = 1ull << 10; break;
      case 'm': case 'M': mul = 1ull << 20; break;
      case 'g': case 'G': mul = 1ull << 30; break;
      case 't': case 'T': mul = 1ull << 40; break;
      default: break;
    }
    if (mul != 1) s.remove_suffix(1);
  }
  uint64_t n;
  if (!parse_u64(s, &n)) return false;
  if (n > UINT64_MAX / mul) return false;
  *v = n * mul;
  return true;
}

bool parse_seconds(std::string_view s, double* v) {
  std::string str(s);
  if (str.empty()) return false;
  char* end = nullptr;
  double d = std::strtod(str.c_str(), &end);
  if (end != str.c_str() + str.size() || !std::isfinite(d)) return false;
  *v = d;
  return true;
}

// "500ms", "5s", "5" (seconds).
bool parse_duration(std::string_view s, std::chrono::milliseconds* v) {
  double scale = 1000.0;
  if (s.ends_with("ms")) {
    scale = 1.0;
    s.remove_suffix(2);
  } else if (s.ends_with("s")) {
    s.remove_suffix(1);
  }
  double d;
  if (!parse_seconds(s, &d) || d < 0) return false;
  *v = std::chrono::milliseconds(static_cast<int64_t>(std::llround(d * scale)));
  return true;
}

bool parse_octal(std::string_view s, uint64_t* v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v, 8);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

}  // namespace

Result<std::optional<uint32_t>> numeric_uname(std::string_view uname) {
  if (uname.empty() || uname.find_first_not_of("0123456789") != std::string_view::npos)
    return std::optional<uint32_t>();
  uint64_t n;
  if (!parse_u64(uname, &n) || n >= UINT32_MAX) return make_error(EINVAL, "numeric uname out of range");
  return std::optional<uint32_t>(static_cast<uint32_t>(n));
}

namespace {

// A number, or a name this machine's user database knows.
std::optional<uint32_t> user_id(std::string_view s) {
  uint64_t n;
  if (parse_u64(s, &n)) return n < UINT32_MAX ? std::optional<uint32_t>(static_cast<uint32_t>(n)) : std::nullopt;
  std::string name(s);
  char buf[4096];
  passwd pw, *res = nullptr;
  if (getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &res) != 0 || !res) return std::nullopt;
  return res->pw_uid;
}

std::optional<uint32_t> group_id(std::string_view s) {
  uint64_t n;
  if (parse_u64(s, &n)) return n < UINT32_MAX ? std::optional<uint32_t>(static_cast<uint32_t>(n)) : std::nullopt;
  std::string name(s);
  char buf[4096];
  group gr, *res = nullptr;
  if (getgrnam_r(name.c_str(), &gr, buf, sizeof buf, &res) != 0 || !res) return std::nullopt;
  return res->gr_gid;
}

Status fail(std::string* why, std::string msg) {
  if (why) *why = std::move(msg);
  return make_error(EINVAL, "mount option");
}

// The machine's RAM: a memory budget beyond it is a typo, not a wish.
uint64_t physical_memory() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : UINT64_MAX;
}

bool set_duration(std::string_view v, std::chrono::milliseconds lo, std::chrono::milliseconds hi,
                  std::chrono::milliseconds* out) {
  std::chrono::milliseconds d;
  if (!parse_duration(v, &d) || d < lo || d > hi) return false;
  *out = d;
  return true;
}

template <class T>
bool set_count(std::string_view v, uint64_t lo, uint64_t hi, T* out) {
  uint64_t n;
  if (!parse_u64(v, &n) || n < lo || n > hi) return false;
  *out = static_cast<T>(n);
  return true;
}

bool set_size(std::string_view v, uint64_t lo, uint64_t hi, uint64_t* out) {
  uint64_t n;
  if (!parse_size(v, &n) || n < lo || n > hi) return false;
  *out = n;
  return true;
}

using std::chrono::milliseconds;
using O = MountOptions;
constexpr uint64_t kMax = UINT64_MAX;

// The one list of mount options: the parser and `netfs mount --help` both read it.
// Flags have an empty value hint and their apply ignores the (absent) value.
const MountOptionSpec kOptions[] = {
    // 9P
    {"msize", "SIZE", "1M", "a size from 4K to 16M", "9P message size asked for (diod grants 64K)",
     [](std::string_view v, O* o) {
       uint64_t n;
       if (!set_size(v, 4096, 16u << 20, &n)) return false;
       o->msize = static_cast<uint32_t>(n);
       return true;
     }},
    // p9::kMaxConnections; not included here so the option parser stays free of p9.
    {"conns", "N", "1", "a count of connections from 1 to 16",
     "connections to the server; reads and writes are spread over them",
     [](std::string_view v, O* o) { return set_count(v, 1, 16, &o->conns); }},
    {"max_fids", "N", "512", "a count from 8 to 16777216",
     "server fids kept; beyond it those of unused files are closed and reopened on demand",
     [](std::string_view v, O* o) { return set_count(v, 8, 1u << 24, &o->max_fids); }},
    {"timeout", "DURATION", "30s", "a duration from 100ms to 86400s", "per-RPC limit, waiting for a reconnect included",
     [](std::string_view v, O* o) { return set_duration(v, milliseconds(100), std::chrono::hours(24), &o->timeout); }},
    {"uname", "USER", "root", "a user name or uid",
     "9P attach user, the server acts as this user (a 9p://USER@HOST URL sets it too)",
     [](std::string_view v, O* o) { return o->uname = std::string(v), numeric_uname(v).ok(); }},
    {"auth", "METHOD", "auto", "auto, none or munge",
     "authentication: munge (diod's MUNGE; needs a munged sharing the server's key), auto (munge when the server "
     "asks for it), none",
     [](std::string_view v, O* o) { return (v == "auto" || v == "none" || v == "munge") && (o->auth = v, true); }},
    // engine
    {"retries", "N", "10", "a count from 0 to 1000", "engine retries of a subrequest that makes no progress",
     [](std::string_view v, O* o) { return set_count(v, 0, 1000, &o->retries); }},
    {"memory", "SIZE", "0", "0 (auto) or a size from 4M to the machine's RAM",
     "folio budget of the engine (0: a quarter of RAM)",
     [](std::string_view v, O* o) {
       uint64_t n;
       if (!parse_size(v, &n) || (n != 0 && (n < (4u << 20) || n > physical_memory()))) return false;
       o->memory = n;
       return true;
     }},
    {"dirty_limit", "SIZE", "256M", "a size of at least 1M", "writers are throttled above this many dirty bytes",
     [](std::string_view v, O* o) { return set_size(v, 1u << 20, kMax, &o->dirty_limit); }},
    {"writeback_delay", "DURATION", "5s", "a duration from 1ms to 3600s (\"500ms\", \"5s\")",
     "the flusher writes data older than this",
     [](std::string_view v, O* o) {
       return set_duration(v, milliseconds(1), std::chrono::hours(1), &o->writeback_delay);
     }},
    {"readahead", "SIZE", "8M", "a size up to 1G (0 disables readahead)", "largest readahead window",
     [](std::string_view v, O* o) { return set_size(v, 0, 1ull << 30, &o->readahead_max); }},
    // kernel caching
    {"attr_timeout", "SECONDS", "1", "seconds from 0 to 3600", "how long the kernel trusts attributes",
     [](std::string_view v, O* o) {
       double d;
       return parse_seconds(v, &d) && d >= 0 && d <= 3600 && (o->attr_timeout = d, true);
     }},
    {"entry_timeout", "SECONDS", "1", "seconds from 0 to 3600", "how long the kernel trusts names",
     [](std::string_view v, O* o) {
       double d;
       return parse_seconds(v, &d) && d >= 0 && d <= 3600 && (o->entry_timeout = d, true);
     }},
    {"direct_io", "", "off", "", "bypass the kernel page cache (no shared mmap then)",
     [](std::string_view, O* o) { return o->direct_io = true; }},
    // local persistent cache
    {"cache_dir", "PATH", "none", "an absolute directory path", "the local persistent cache (docs/cache.md)",
     [](std::string_view v, O* o) { return v.front() == '/' && (o->cache_dir = std::string(v), true); }},
    {"spool_dir", "PATH", "cache_dir/spool, else /var/lib/netfs/spool", "an absolute directory path",
     "where dirty data the daemon cannot write before it exits is saved (docs/fuse.md)",
     [](std::string_view v, O* o) { return v.front() == '/' && (o->spool_dir = std::string(v), true); }},
    {"cache_size", "SIZE", "1G", "a size of at least 1M", "cached file data at most",
     [](std::string_view v, O* o) { return set_size(v, 1u << 20, kMax, &o->cache_size); }},
    {"cache_min_free", "SIZE", "0", "a size (0: 2% of the cache's filesystem)",
     "free space the cache leaves on its filesystem",
     [](std::string_view v, O* o) { return set_size(v, 0, kMax, &o->cache_min_free); }},
    // who may use the mount, and as whom
    {"allow_other", "", "off", "", "other local users may use the mount (implies default_permissions)",
     [](std::string_view, O* o) { return o->allow_other = true; }},
    {"default_permissions", "", "off", "", "the kernel checks callers against modes and owners",
     [](std::string_view, O* o) { return o->no_default_permissions = false, o->default_permissions = true; }},
    {"no_default_permissions", "", "off", "",
     "with allow_other: no kernel checks, every local user gets the attach user's rights (docs/fuse.md, Security)",
     [](std::string_view, O* o) { return o->default_permissions = false, o->no_default_permissions = true; }},
    {"uid", "ID", "the server's", "a user name or number", "owner every file appears to have locally",
     [](std::string_view v, O* o) { return (o->uid = user_id(v)).has_value(); }},
    {"gid", "ID", "the server's", "a group name or number", "group every file appears to have locally",
     [](std::string_view v, O* o) { return (o->gid = group_id(v)).has_value(); }},
    {"umask", "OCTAL", "0", "octal permission bits from 0 to 0777", "permission bits masked off what the mount shows",
     [](std::string_view v, O* o) {
       uint64_t n;
       return parse_octal(v, &n) && n <= 0777 && (o->umask = static_cast<uint32_t>(n), true);
     }},
    // mount flags, as mount(8) names them
    {"ro", "", "off", "", "read-only mount", [](std::string_view, O* o) { return o->read_only = true; }},
    {"rw", "", "on", "", "read-write mount", [](std::string_view, O* o) { return !(o->read_only = false); }},
    {"noexec", "", "off", "", "programs on the mount cannot be run", [](std::string_view, O* o) { return o->noexec = true; }},
    {"exec", "", "on", "", "programs on the mount can be run", [](std::string_view, O* o) { return !(o->noexec = false); }},
    {"nosuid", "", "on", "", "set-user/group-ID bits are ignored", [](std::string_view, O* o) { return o->nosuid = true; }},
    {"suid", "", "off", "", "set-user/group-ID bits take effect (root only)",
     [](std::string_view, O* o) { return !(o->nosuid = false); }},
    {"nodev", "", "on", "", "device files cannot be opened", [](std::string_view, O* o) { return o->nodev = true; }},
    {"dev", "", "off", "", "device files can be opened (root only)", [](std::string_view, O* o) { return !(o->nodev = false); }},
    {"noatime", "", "off", "", "no access-time updates", [](std::string_view, O* o) { return o->noatime = true; }},
    // atime is what mount(8) means by the kernel's default, which is relatime.
    {"relatime", "", "on", "", "access times updated relative to mtime/ctime",
     [](std::string_view, O* o) { return !(o->noatime = false); }},
    {"atime", "", "on", "", "the kernel's default: relatime", [](std::string_view, O* o) { return !(o->noatime = false); }},
    {"sync", "", "off", "", "every write reaches the server before write(2) returns",
     [](std::string_view, O* o) { return o->sync = true; }},
    {"async", "", "on", "", "writes are written back later", [](std::string_view, O* o) { return !(o->sync = false); }},
    {"dirsync", "", "off", "", "directory changes synchronous (they always are)",
     [](std::string_view, O* o) { return o->dirsync = true; }},
    // daemon
    {"threads", "N", "16", "a count from 1 to 256", "FUSE worker threads at most",
     [](std::string_view v, O* o) { return set_count(v, 1, 256, &o->threads); }},
    {"log", "PATH", "/run/netfs/NAME.log", "a file path", "the daemon's messages",
     [](std::string_view v, O* o) { return o->log_file = std::string(v), true; }},
    {"debug", "", "off", "", "libfuse logs every request", [](std::string_view, O* o) { return o->debug = true; }},
};

}  // namespace

std::span<const MountOptionSpec> mount_option_table() { return kOptions; }

Status parse_mount_options(std::string_view text, MountOptions* o, std::string* why) {
  for (std::string_view opt : split(text, ',')) {
    size_t eq = opt.find('=');
    std::string name(opt.substr(0, eq));
    std::string_view val = eq == std::string_view::npos ? std::string_view{} : opt.substr(eq + 1);
    bool has_val = eq != std::string_view::npos;
    const MountOptionSpec* spec = nullptr;
    for (const auto& s : kOptions)
      if (s.name == name) spec = &s;
    if (!spec) return fail(why, "unknown mount option '" + name + "' (netfs mount --help lists them)");
    if (spec->value_hint.empty()) {
      if (has_val) return fail(why, "option " + name + " takes no value");
      spec->apply({}, o);
      continue;
    }
    if (val.empty() || !spec->apply(val, o))
      return fail(why, "option " + name + "=" + std::string(val) + " is invalid: expected " + std::string(spec->range));
  }
  return ok_status();
}

std::string mount_options_help() {
  std::string out = "Mount options (-o NAME=VALUE,FLAG,...; sizes take K/M/G/T, durations ms or s):\n";
  for (const auto& s : kOptions) {
    std::string left = "  " + std::string(s.name) + (s.value_hint.empty() ? "" : "=" + std::string(s.value_hint));
    if (left.size() < 30) left.resize(30, ' ');
    else left += "\n" + std::string(30, ' ');
    out += left + std::string(s.meaning) + "\n" + std::string(30, ' ') + "default: " + std::string(s.default_value);
    if (!s.range.empty()) out += "; " + std::string(s.range);
    out += "\n";
  }
  return out;
}

std::string strip_generic_mount_options(std::string_view text) {
  std::string out;
  for (std::string_view opt : split(text, ',')) {
    std::string_view name = opt.substr(0, opt.find('='));
    if (name == "defaults" || name == "auto" || name == "noauto" || name == "user" || name == "users" ||
        name == "nouser" || name == "_netdev" || name == "nofail" || name == "comment" || name.starts_with("x-"))
      continue;
    if (!out.empty()) out += ',';
    out += opt;
  }
  return out;
}

}  // namespace netfs::fuse
