#include "fuse/mount_options.h"

#include <grp.h>
#include <pwd.h>

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

}  // namespace

Status parse_mount_options(std::string_view text, MountOptions* o, std::string* why) {
  for (std::string_view opt : split(text, ',')) {
    size_t eq = opt.find('=');
    std::string name(opt.substr(0, eq));
    std::string_view val = eq == std::string_view::npos ? std::string_view{} : opt.substr(eq + 1);
    bool has_val = eq != std::string_view::npos;
    auto need_val = [&]() { return has_val && !val.empty(); };
    auto bad = [&](const std::string& range) {
      return fail(why, "option " + name + "=" + std::string(val) + " is invalid: expected " + range);
    };
    uint64_t n = 0;
    if (name == "msize") {
      if (!need_val() || !parse_size(val, &n) || n < 4096 || n > (16u << 20)) return bad("a size from 4K to 16M");
      o->msize = static_cast<uint32_t>(n);
    } else if (name == "memory") {
      if (!need_val() || !parse_size(val, &n) || (n != 0 && n < (4u << 20))) return bad("0 (auto) or a size of at least 4M");
      o->memory = n;
    } else if (name == "dirty_limit") {
      if (!need_val() || !parse_size(val, &n) || n < (1u << 20)) return bad("a size of at least 1M");
      o->dirty_limit = n;
    } else if (name == "readahead") {
      if (!need_val() || !parse_size(val, &n) || n > (1ull << 30)) return bad("a size up to 1G (0 disables readahead)");
      o->readahead_max = n;
    } else if (name == "writeback_delay") {
      std::chrono::milliseconds d;
      if (!need_val() || !parse_duration(val, &d) || d.count() < 1 || d > std::chrono::hours(1))
        return bad("a duration from 1ms to 3600s (\"500ms\", \"5s\")");
      o->writeback_delay = d;
    } else if (name == "retries") {
      if (!need_val() || !parse_u64(val, &n) || n > 1000) return bad("a count from 0 to 1000");
      o->retries = static_cast<unsigned>(n);
    } else if (name == "timeout") {
      std::chrono::milliseconds d;
      if (!need_val() || !parse_duration(val, &d) || d.count() < 100 || d > std::chrono::hours(24))
        return bad("a duration from 100ms to 86400s");
      o->timeout = d;
    } else if (name == "attr_timeout" || name == "entry_timeout") {
      double d;
      if (!need_val() || !parse_seconds(val, &d) || d < 0 || d > 3600) return bad("seconds from 0 to 3600");
      (name == "attr_timeout" ? o->attr_timeout : o->entry_timeout) = d;
    } else if (name == "threads") {
      if (!need_val() || !parse_u64(val, &n) || n < 1 || n > 256) return bad("a count from 1 to 256");
      o->threads = static_cast<unsigned>(n);
    } else if (name == "conns") {
      // p9::kMaxConnections; not included here so the option parser stays free of p9.
      if (!need_val() || !parse_u64(val, &n) || n < 1 || n > 16) return bad("a count of connections from 1 to 16");
      o->conns = static_cast<unsigned>(n);
    } else if (name == "uid" || name == "gid") {
      std::optional<uint32_t> id = name == "uid" ? user_id(val) : group_id(val);
      if (!need_val() || !id) return bad(name == "uid" ? "a user name or number" : "a group name or number");
      (name == "uid" ? o->uid : o->gid) = id;
    } else if (name == "umask") {
      if (!need_val() || !parse_octal(val, &n) || n > 0777) return bad("octal permission bits from 0 to 0777");
      o->umask = static_cast<uint32_t>(n);
    } else if (name == "uname") {
      if (!need_val()) return bad("a user name");
      o->uname = std::string(val);
    } else if (name == "cache_dir") {
      if (!need_val() || val.front() != '/') return bad("an absolute directory path");
      o->cache_dir = std::string(val);
    } else if (name == "cache_size") {
      if (!need_val() || !parse_size(val, &n) || n < (1u << 20)) return bad("a size of at least 1M");
      o->cache_size = n;
    } else if (name == "cache_min_free") {
      if (!need_val() || !parse_size(val, &n)) return bad("a size (0: 2% of the cache's filesystem)");
      o->cache_min_free = n;
    } else if (name == "log") {
      if (!need_val()) return bad("a file path");
      o->log_file = std::string(val);
    } else if (name == "direct_io" || name == "allow_other" || name == "default_permissions" ||
               name == "no_default_permissions" || name == "ro" || name == "rw" || name == "debug" ||
               name == "exec" || name == "noexec" || name == "suid" || name == "nosuid" || name == "dev" ||
               name == "nodev" || name == "atime" || name == "relatime" || name == "noatime" || name == "sync" ||
               name == "async" || name == "dirsync") {
      if (has_val) return fail(why, "option " + name + " takes no value");
      if (name == "exec" || name == "noexec") o->noexec = name == "noexec";
      if (name == "suid" || name == "nosuid") o->nosuid = name == "nosuid";
      if (name == "dev" || name == "nodev") o->nodev = name == "nodev";
      // atime is what mount(8) means by the kernel's default, which is relatime.
      if (name == "atime" || name == "relatime" || name == "noatime") o->noatime = name == "noatime";
      if (name == "sync" || name == "async") o->sync = name == "sync";
      if (name == "dirsync") o->dirsync = true;
      if (name == "direct_io") o->direct_io = true;
      if (name == "allow_other") o->allow_other = true;
      if (name == "default_permissions") o->default_permissions = true, o->no_default_permissions = false;
      if (name == "no_default_permissions") o->no_default_permissions = true, o->default_permissions = false;
      if (name == "ro") o->read_only = true;
      if (name == "rw") o->read_only = false;
      if (name == "debug") o->debug = true;
    } else {
      return fail(why, "unknown mount option '" + name + "' (see docs/fuse.md for the list)");
    }
  }
  return ok_status();
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
