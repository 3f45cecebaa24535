#include "fuse/mount_options.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>
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

using std::chrono::milliseconds;
using O = MountOptions;
constexpr uint64_t kMax = UINT64_MAX;
constexpr uint64_t kDay = 86400 * 1000;

// "1M" for 1048576; a size no unit divides stays in bytes.
std::string format_size(uint64_t v) {
  static constexpr std::pair<char, int> kUnits[] = {{'T', 40}, {'G', 30}, {'M', 20}, {'K', 10}};
  for (auto [unit, shift] : kUnits)
    if (v && v % (1ull << shift) == 0) return std::to_string(v >> shift) + unit;
  return std::to_string(v);
}

std::string format_duration(uint64_t ms) {
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

std::string format_octal(uint64_t n) {
  char buf[32];
  snprintf(buf, sizeof buf, n ? "0%llo" : "0", static_cast<unsigned long long>(n));
  return buf;
}

std::string format_seconds(double d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

std::string_view auth_name(p9::Auth a) {
  switch (a) {
    case p9::Auth::kNone: return "none";
    case p9::Auth::kMunge: return "munge";
    case p9::Auth::kAuto: break;
  }
  return "auto";
}

// A number that fits the field, whichever width it has.
bool store_number(const OptionField& f, uint64_t n) {
  if (auto p = std::get_if<uint64_t*>(&f)) return **p = n, true;
  if (auto p = std::get_if<uint32_t*>(&f)) return n <= UINT32_MAX && (**p = static_cast<uint32_t>(n), true);
  return false;
}

// The generic setter of a row: parse by kind, check the range, store.
bool apply_value(const MountOptionSpec& s, std::string_view v, O* o) {
  if (s.apply) return s.apply(v, o);
  OptionField f = s.at(*o);
  uint64_t n;
  switch (s.kind) {
    case OptionKind::kFlag:
      return *std::get<bool*>(f) = s.flag_sets, true;
    case OptionKind::kSize:
      return parse_size(v, &n) && n >= s.lo && n <= s.hi && store_number(f, n);
    case OptionKind::kCount:
      return parse_u64(v, &n) && n >= s.lo && n <= s.hi && store_number(f, n);
    case OptionKind::kOctal:
      return parse_octal(v, &n) && n >= s.lo && n <= s.hi && store_number(f, n);
    case OptionKind::kDuration: {
      milliseconds d;
      if (!parse_duration(v, &d) || d.count() < static_cast<int64_t>(s.lo) || d.count() > static_cast<int64_t>(s.hi))
        return false;
      return *std::get<milliseconds*>(f) = d, true;
    }
    case OptionKind::kSeconds: {
      double d;
      return parse_seconds(v, &d) && d >= static_cast<double>(s.lo) && d <= static_cast<double>(s.hi) &&
             (*std::get<double*>(f) = d, true);
    }
    case OptionKind::kPath:
      return v.front() == '/' && (*std::get<std::string*>(f) = std::string(v), true);
    case OptionKind::kText:
      return *std::get<std::string*>(f) = std::string(v), true;
    case OptionKind::kUser:
      return (*std::get<std::optional<uint32_t>*>(f) = user_id(v)).has_value();
    case OptionKind::kGroup:
      return (*std::get<std::optional<uint32_t>*>(f) = group_id(v)).has_value();
  }
  return false;
}

// The row's field and its name, written once.
#define FIELD(path) .field = #path, .at = [](O & o) -> OptionField { return &o.path; }

// The one list of mount options. Defaults are not written here: option_default() reads
// them from a default-constructed MountOptions, that is from each layer's own struct.
const MountOptionSpec kOptions[] = {
    // 9P
    {.name = "msize", .kind = OptionKind::kSize, FIELD(p9.msize), .lo = 4096, .hi = 16u << 20,
     .meaning = "9P message size asked for (diod 1.0.24 grants 64K)"},
    {.name = "conns", .kind = OptionKind::kCount, FIELD(p9.connections), .lo = 1, .hi = p9::kMaxConnections,
     .meaning = "connections to the server; reads and writes are spread over them",
     .more = "round robin, each with its own fids and reconnect (metadata stays on the first); no gain against "
             "diod here, see bench/RESULTS-p9.md"},
    {.name = "max_fids", .kind = OptionKind::kCount, FIELD(max_fids), .lo = 8, .hi = 1u << 24,
     .meaning = "server fids kept; beyond it those of unused files are closed and reopened on demand",
     .more = "(least recently used first); open files keep theirs, so the count passes the bound only by fids in "
             "use. `netfs stats` shows `fids=` (held now), `max_fids=`, `fids_closed=`, `fids_reopened=` "
             "(`fuse_fids`, ... in `--json`)"},
    {.name = "timeout", .kind = OptionKind::kDuration, FIELD(p9.rpc_timeout), .lo = 100, .hi = kDay,
     .meaning = "per-RPC limit, waiting for a reconnect included",
     .more = "; also how long the server may be unreachable before calls fail at once (see \"When the server is "
             "gone\")"},
    {.name = "uname", .kind = OptionKind::kText, FIELD(p9.uname),
     .meaning = "9P attach user, the server acts as this user (a 9p://USER@HOST URL sets it too)",
     .more = ". A number is a uid and is also sent as `n_uname` (diod without a user database, `-N`, takes only "
             "that); a name is looked up by the server",
     .range_note = "a user name or uid", .hint = "USER",
     .apply = [](std::string_view v, O* o) { return o->p9.uname = std::string(v), numeric_uname(v).ok(); }},
    {.name = "auth", .kind = OptionKind::kText, FIELD(p9.auth),
     .meaning = "authentication: munge (diod's MUNGE; needs a munged sharing the server's key), auto (munge when "
                "the server asks for it), none",
     .more = "; see Security, below", .range_note = "auto, none or munge", .hint = "METHOD",
     .apply = [](std::string_view v, O* o) {
       for (p9::Auth a : {p9::Auth::kAuto, p9::Auth::kNone, p9::Auth::kMunge})
         if (v == auth_name(a)) return o->p9.auth = a, true;
       return false;
     }},
    // engine
    {.name = "retries", .kind = OptionKind::kCount, FIELD(engine.max_retries), .lo = 0, .hi = 1000,
     .meaning = "engine retries of a subrequest that makes no progress"},
    {.name = "memory", .kind = OptionKind::kSize, FIELD(engine.memory_limit),
     .meaning = "folio budget of the engine", .default_note = "a quarter of RAM",
     .range_note = "0 (auto) or a size from 4M to the machine's RAM",
     .apply = [](std::string_view v, O* o) {
       uint64_t n;
       if (!parse_size(v, &n) || (n != 0 && (n < (4u << 20) || n > physical_memory()))) return false;
       o->engine.memory_limit = n;
       return true;
     }},
    {.name = "dirty_limit", .kind = OptionKind::kSize, FIELD(engine.dirty_limit), .lo = 1u << 20, .hi = kMax,
     .meaning = "writers are throttled above this many dirty bytes"},
    {.name = "writeback_delay", .kind = OptionKind::kDuration, FIELD(engine.writeback_delay), .lo = 1,
     .hi = 3600 * 1000, .meaning = "the flusher writes data older than this"},
    {.name = "readahead", .kind = OptionKind::kSize, FIELD(engine.readahead_max), .lo = 0, .hi = 1ull << 30,
     .meaning = "largest readahead window (0: no readahead)"},
    {.name = "workers", .kind = OptionKind::kCount, FIELD(engine.worker_threads), .lo = 1, .hi = 64,
     .meaning = "engine threads that collect finished reads and writes"},
    // kernel caching
    {.name = "attr_timeout", .kind = OptionKind::kSeconds, FIELD(attr_timeout), .lo = 0, .hi = 3600,
     .meaning = "how long the kernel trusts attributes"},
    {.name = "entry_timeout", .kind = OptionKind::kSeconds, FIELD(entry_timeout), .lo = 0, .hi = 3600,
     .meaning = "how long the kernel trusts names"},
    {.name = "direct_io", .kind = OptionKind::kFlag, FIELD(direct_io),
     .meaning = "bypass the kernel page cache (no shared mmap then)"},
    {.name = "attr_threads", .kind = OptionKind::kCount, FIELD(attr_threads), .lo = 1, .hi = 64,
     .meaning = "threads that fetch a listing's attributes in parallel (readdirplus)"},
    // local persistent cache
    {.name = "cache_dir", .kind = OptionKind::kPath, FIELD(cache.dir),
     .meaning = "the local persistent cache (docs/cache.md)", .more = "; one mount per directory",
     .default_note = "none (no cache)", .range_note = "an absolute directory path"},
    {.name = "spool_dir", .kind = OptionKind::kPath, FIELD(spool_dir),
     .meaning = "where dirty data the daemon cannot write before it exits is saved (docs/fuse.md)",
     .default_note = "cache_dir/spool, else /var/lib/netfs/spool (root) or $XDG_STATE_HOME/netfs/spool",
     .range_note = "an absolute directory path"},
    {.name = "cache_size", .kind = OptionKind::kSize, FIELD(cache.size_limit), .lo = 1u << 20, .hi = kMax,
     .meaning = "cached file data at most"},
    {.name = "cache_min_free", .kind = OptionKind::kSize, FIELD(cache.min_free), .lo = 0, .hi = kMax,
     .meaning = "free space the cache leaves on its filesystem", .default_note = "2% of its filesystem"},
    {.name = "cache_key", .kind = OptionKind::kPath, FIELD(cache.key_file),
     .meaning = "encrypt everything the cache writes with the key in this file (docs/cache.md, Encryption)",
     .more = "; `netfs cache --new-key FILE` makes one (mode 0600); a key file group or others may access is refused",
     .default_note = "none (a plain cache)", .range_note = "an absolute path to a key file"},
    {.name = "cache_mismatch", .kind = OptionKind::kText, FIELD(cache.refuse_mismatch),
     .meaning = "a cache_dir written with another key or without one, or plain with cache_key: drop its content or "
                "refuse the mount",
     .default_note = "drop", .range_note = "drop or refuse", .hint = "WHAT",
     .apply = [](std::string_view v, O* o) {
       return (v == "drop" || v == "refuse") && (o->cache.refuse_mismatch = v == "refuse", true);
     }},
    // who may use the mount, and as whom
    {.name = "allow_other", .kind = OptionKind::kFlag, FIELD(allow_other),
     .meaning = "other local users may use the mount (implies default_permissions)", .more = "; see Security, below"},
    {.name = "default_permissions", .kind = OptionKind::kFlag, FIELD(default_permissions),
     .meaning = "the kernel checks callers against modes and owners", .default_note = "on with allow_other",
     .apply = [](std::string_view, O* o) { return o->no_default_permissions = false, o->default_permissions = true; }},
    {.name = "no_default_permissions", .kind = OptionKind::kFlag, FIELD(no_default_permissions),
     .meaning = "with allow_other: no kernel checks, every local user gets the attach user's rights (docs/fuse.md, "
                "Security)",
     .apply = [](std::string_view, O* o) { return o->default_permissions = false, o->no_default_permissions = true; }},
    {.name = "uid", .kind = OptionKind::kUser, FIELD(uid), .meaning = "owner every file appears to have locally",
     .more = "(as sshfs's and mount.cifs's `uid=`); the server's files do not change. With `allow_other` the "
             "kernel's permission checks use it",
     .default_note = "the server's", .range_note = "a user name or number"},
    {.name = "gid", .kind = OptionKind::kGroup, FIELD(gid), .meaning = "group every file appears to have locally",
     .default_note = "the server's", .range_note = "a group name or number"},
    {.name = "umask", .kind = OptionKind::kOctal, FIELD(umask), .lo = 0, .hi = 0777,
     .meaning = "permission bits masked off what the mount shows", .more = "(`umask=027`: 0644 shows as 0640)"},
    // mount flags, as mount(8) names them
    {.name = "ro", .kind = OptionKind::kFlag, FIELD(read_only), .meaning = "read-only mount"},
    {.name = "rw", .kind = OptionKind::kFlag, FIELD(read_only), .meaning = "read-write mount", .flag_sets = false},
    {.name = "noexec", .kind = OptionKind::kFlag, FIELD(noexec), .meaning = "programs on the mount cannot be run"},
    {.name = "exec", .kind = OptionKind::kFlag, FIELD(noexec), .meaning = "programs on the mount can be run",
     .flag_sets = false},
    {.name = "nosuid", .kind = OptionKind::kFlag, FIELD(nosuid), .meaning = "set-user/group-ID bits are ignored"},
    {.name = "suid", .kind = OptionKind::kFlag, FIELD(nosuid),
     .meaning = "set-user/group-ID bits take effect (root only)", .flag_sets = false},
    {.name = "nodev", .kind = OptionKind::kFlag, FIELD(nodev), .meaning = "device files cannot be opened"},
    {.name = "dev", .kind = OptionKind::kFlag, FIELD(nodev), .meaning = "device files can be opened (root only)",
     .flag_sets = false},
    {.name = "noatime", .kind = OptionKind::kFlag, FIELD(noatime), .meaning = "no access-time updates"},
    {.name = "relatime", .kind = OptionKind::kFlag, FIELD(noatime),
     .meaning = "access times updated relative to mtime/ctime", .flag_sets = false},
    // atime is what mount(8) means by the kernel's default, which is relatime.
    {.name = "atime", .kind = OptionKind::kFlag, FIELD(noatime), .meaning = "the kernel's default: relatime",
     .flag_sets = false},
    {.name = "sync", .kind = OptionKind::kFlag, FIELD(sync),
     .meaning = "every write reaches the server before write(2) returns", .more = "(the kernel fsyncs each write)"},
    {.name = "async", .kind = OptionKind::kFlag, FIELD(sync), .meaning = "writes are written back later",
     .flag_sets = false},
    {.name = "dirsync", .kind = OptionKind::kFlag, FIELD(dirsync),
     .meaning = "directory changes synchronous (they always are)",
     .more = ": every namespace change is a synchronous RPC"},
    // daemon
    {.name = "threads", .kind = OptionKind::kCount, FIELD(threads), .lo = 1, .hi = 256,
     .meaning = "FUSE worker threads at most"},
    {.name = "log", .kind = OptionKind::kText, FIELD(log_file), .meaning = "the daemon's messages",
     .more = "; a log that cannot be opened stops the mount (exit 1)", .default_note = "/run/netfs/NAME.log",
     .range_note = "a file path", .hint = "PATH"},
    {.name = "debug", .kind = OptionKind::kFlag, FIELD(debug), .meaning = "libfuse logs every request"},
};

#undef FIELD

}  // namespace

std::span<const MountOptionSpec> mount_option_table() { return kOptions; }

std::string_view option_value_hint(const MountOptionSpec& s) {
  if (!s.hint.empty()) return s.hint;
  switch (s.kind) {
    case OptionKind::kSize: return "SIZE";
    case OptionKind::kCount: return "N";
    case OptionKind::kDuration: return "DURATION";
    case OptionKind::kSeconds: return "SECONDS";
    case OptionKind::kOctal: return "OCTAL";
    case OptionKind::kPath: return "PATH";
    case OptionKind::kText: return "VALUE";
    case OptionKind::kUser:
    case OptionKind::kGroup: return "ID";
    case OptionKind::kFlag: break;
  }
  return "";
}

std::string option_default(const MountOptionSpec& s) {
  O defaults;
  OptionField f = s.at(defaults);
  std::string v;
  if (s.kind == OptionKind::kFlag) {
    v = *std::get<bool*>(f) == s.flag_sets ? "on" : "off";
  } else if (auto p = std::get_if<std::string*>(&f)) {
    v = **p;
  } else if (auto p = std::get_if<std::optional<uint32_t>*>(&f)) {
    if (**p) v = std::to_string(***p);
  } else if (auto p = std::get_if<p9::Auth*>(&f)) {
    v = auth_name(**p);
  } else if (auto p = std::get_if<milliseconds*>(&f)) {
    v = format_duration(static_cast<uint64_t>((*p)->count()));
  } else if (auto p = std::get_if<double*>(&f)) {
    v = format_seconds(**p);
  } else if (std::holds_alternative<bool*>(f)) {
    // A choice stored as a bool (cache_mismatch): the row's default_note names it.
  } else {
    uint64_t n = std::holds_alternative<uint64_t*>(f) ? *std::get<uint64_t*>(f) : *std::get<uint32_t*>(f);
    v = s.kind == OptionKind::kSize ? format_size(n) : s.kind == OptionKind::kOctal ? format_octal(n) : std::to_string(n);
  }
  if (s.default_note.empty()) return v;
  return v.empty() ? std::string(s.default_note) : v + " (" + std::string(s.default_note) + ")";
}

std::string option_range(const MountOptionSpec& s) {
  if (!s.range_note.empty()) return std::string(s.range_note);
  auto span = [&](const char* what, std::string (*show)(uint64_t)) {
    std::string w = what;
    if (s.hi == kMax) return s.lo ? w + " of at least " + show(s.lo) : w;
    if (s.lo == 0 && s.kind == OptionKind::kSize) return w + " up to " + show(s.hi);
    return w + " from " + show(s.lo) + " to " + show(s.hi);
  };
  switch (s.kind) {
    case OptionKind::kSize: return span("a size", format_size);
    case OptionKind::kCount: return span("a count", [](uint64_t n) { return std::to_string(n); });
    case OptionKind::kDuration: return span("a duration", format_duration);
    case OptionKind::kSeconds: return span("seconds", [](uint64_t n) { return std::to_string(n); });
    case OptionKind::kOctal:
      return span("octal permission bits", format_octal);
    case OptionKind::kPath: return "an absolute path";
    case OptionKind::kUser: return "a user name or number";
    case OptionKind::kGroup: return "a group name or number";
    case OptionKind::kText: return "text";
    case OptionKind::kFlag: break;
  }
  return "";
}

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
    if (spec->kind == OptionKind::kFlag) {
      if (has_val) return fail(why, "option " + name + " takes no value");
      apply_value(*spec, {}, o);
      continue;
    }
    if (val.empty() || !apply_value(*spec, val, o))
      return fail(why, "option " + name + "=" + std::string(val) + " is invalid: expected " + option_range(*spec));
  }
  return ok_status();
}

std::string mount_options_help() {
  std::string out = "Mount options (-o NAME=VALUE,FLAG,...; sizes take K/M/G/T, durations ms or s):\n";
  for (const auto& s : kOptions) {
    std::string_view hint = option_value_hint(s);
    std::string left = "  " + std::string(s.name) + (hint.empty() ? "" : "=" + std::string(hint));
    if (left.size() < 30) left.resize(30, ' ');
    else left += "\n" + std::string(30, ' ');
    out += left + std::string(s.meaning) + "\n" + std::string(30, ' ') + "default: " + option_default(s);
    if (std::string range = option_range(s); !range.empty()) out += "; " + range;
    out += "\n";
  }
  return out;
}

std::string mount_options_markdown() {
  std::string out = "| option | default | range | meaning | sets |\n|---|---|---|---|---|\n";
  for (const auto& s : kOptions) {
    std::string range = option_range(s);
    std::string meaning(s.meaning);
    // "more" goes on the line as written: a leading ";" or "." continues the sentence.
    if (!s.more.empty()) meaning += (std::string_view(";.:").find(s.more.front()) == std::string_view::npos ? " " : "") +
                                    std::string(s.more);
    out += "| `" + std::string(s.name) + "` | " + option_default(s) + " | " + (range.empty() ? "flag" : range) +
           " | " + meaning + " | `" + std::string(s.field) + "` |\n";
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
