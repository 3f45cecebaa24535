// `netfs cache MOUNTPOINT|DIR [--drop] [--json]`: the local cache's usage, hit rate and
// object counts, from a running mount (over its control socket) or from a cache directory
// no mount is using; --drop empties it (a mount's open files are emptied in place, a
// directory in use by a mount is refused). A few lines for people by default, the one
// JSON object the daemon or the directory inspection answers with --json.
#include <cstdio>
#include <map>
#include <regex>
#include <string>

#include "cache/cache_key.h"
#include "cache/store.h"
#include "fuse/control_channel.h"
#include "fuse/mount_table.h"
#include "tools/netfs/commands.h"

namespace netfs::cli {

namespace {

// The flat object's "key":value pairs, values as written (strings without their quotes).
std::map<std::string, std::string> fields(const std::string& json) {
  std::map<std::string, std::string> out;
  static const std::regex pair(R"re("([a-z_]+)":("(?:[^"\\]|\\.)*"|[^,}]+))re");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), pair); it != std::sregex_iterator(); ++it) {
    std::string v = (*it)[2].str();
    if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
    out[(*it)[1].str()] = v;
  }
  return out;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, u++;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

void print(const std::string& json, bool as_json) {
  if (as_json) {
    printf("%s\n", json.c_str());
    return;
  }
  auto f = fields(json);
  auto num = [&](const char* k) { return f.count(k) ? std::strtod(f[k].c_str(), nullptr) : 0.0; };
  if (f["enabled"] == "false") {
    printf("this mount has no local cache (mount with -o cache_dir=DIR to have one)\n");
    return;
  }
  printf("directory     %s%s\n", f["dir"].c_str(), f["in_use"] == "true" ? " (in use by a mount)" : "");
  std::string usage = human_bytes(num("usage_bytes"));
  if (f.count("size_limit"))
    usage += " of " + human_bytes(num("size_limit")) + (f["scan_done"] == "false" ? " (still counting)" : "");
  printf("usage         %s\n", usage.c_str());
  if (f.count("open_objects"))
    printf("files         %.0f open, %.0f closed\n", num("open_objects"), num("closed_objects"));
  else
    printf("files         %.0f (%.0f empty)\n", num("objects"), num("empty_objects"));
  printf("granule       %s\n", human_bytes(num("granule")).c_str());
  if (f.count("encrypted")) printf("encrypted     %s\n", f["encrypted"] == "true" ? "yes (cache_key)" : "no");
  if (f.count("hit_rate")) {
    printf("hit rate      %.1f%% of bytes read (%s from the cache, %s from the server)\n", 100 * num("hit_rate"),
           human_bytes(num("cache_hit_bytes")).c_str(), human_bytes(num("cache_miss_bytes")).c_str());
    printf("listings      %.1f%% of directory listings from the cache\n", 100 * num("listing_hit_rate"));
    printf("written       %s; evicted %s; checksum failures %.0f; I/O errors %.0f\n",
           human_bytes(num("cache_written_bytes")).c_str(), human_bytes(num("cache_evicted_bytes")).c_str(),
           num("cache_corrupt_granules"), num("cache_io_errors"));
    if (num("cache_auth_failures") > 0)
      printf("warning       %.0f blocks failed authentication (tampered with?) and were dropped\n",
             num("cache_auth_failures"));
    if (num("free_space_shortfall") > 0)
      printf("warning       the file system holding the cache lacks %s of free space for its limit\n",
             human_bytes(num("free_space_shortfall")).c_str());
  }
}

}  // namespace

int cmd_new_cache_key(const std::string& path) {
  Status st = cache::write_new_cache_key(path);
  if (!st.ok()) {
    fprintf(stderr, "netfs: cannot write a key to %s: %s\n", path.c_str(), st.error().message().c_str());
    return 1;
  }
  printf("wrote a new cache key to %s (mode 0600); mount with -o cache_key=%s. Keep a copy apart from the cache:\n"
         "without it the cache is unreadable (and is dropped at the next mount).\n", path.c_str(), path.c_str());
  return 0;
}

int cmd_cache(const std::string& target, bool drop, bool json) {
  std::string why;
  std::string mp = canonical_mountpoint(target);
  auto m = fuse::mount_at(mp);
  if (m && fuse::is_netfs(*m)) {
    auto r = fuse::control_request(mp, drop ? "cache drop" : "cache", &why, 60000);
    if (!r.ok()) {
      fprintf(stderr, "netfs: %s\n", why.c_str());
      return 1;
    }
    std::string body = *r;
    while (!body.empty() && body.back() == '\n') body.pop_back();
    print(body, json);
    return 0;
  }
  // Not a netfs mount: a cache directory, then (which may be a mount of its own).
  auto info = cache::Store::inspect(target);
  if (!info.ok()) {
    if (m)
      fprintf(stderr, "netfs: %s is not a netfs mount (it is %s, type %s) nor a cache directory; left alone\n",
              mp.c_str(), m->source.c_str(), m->fstype.c_str());
    else
      fprintf(stderr, "netfs: %s is neither a netfs mount nor a cache directory (%s)\n", target.c_str(),
              info.error().message().c_str());
    return 2;
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
  print(*info, json);
  return 0;
}

}  // namespace netfs::cli
