// `netfs spool [DIR]`: what waits in a spool directory (src/fuse/spool.h): dirty data a
// mount daemon could not write before it exited, which the next mount of the same
// export uploads. DIR is a spool directory or a cache directory (its spool/ below it);
// without DIR, the default spool directory (/var/lib/netfs/spool for root). Entries an
// encrypted cache sealed (-o cache_key) are listed only given its key (--key FILE);
// without it they are counted, and stay for the mount that has the key.
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <string>

#include <memory>

#include "cache/cache_key.h"
#include "cache/cipher.h"
#include "fuse/spool.h"
#include "tools/netfs/commands.h"

namespace netfs::cli {

int cmd_spool(const std::string& dir_arg, const std::string& key_file) {
  std::string dir = dir_arg.empty() ? fuse::default_spool_dir() : dir_arg;
  struct stat st;
  // A cache directory holds its mount's spool below it.
  if (::stat((dir + "/spool").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) dir += "/spool";
  std::unique_ptr<cache::Cipher> cipher;
  if (!key_file.empty()) {
    auto key = cache::read_cache_key(key_file);
    if (!key.ok()) {
      fprintf(stderr, "netfs: spool: key file %s: %s\n", key_file.c_str(), key.error().message().c_str());
      return 1;
    }
    auto c = cache::Cipher::create(*key);
    if (!c.ok()) {
      fprintf(stderr, "netfs: spool: %s\n", c.error().message().c_str());
      return 1;
    }
    cipher = std::move(*c);
  }
  fuse::Spool spool(dir, cipher.get());
  size_t unreadable = 0;
  auto entries = spool.list("", &unreadable);
  if (!entries.ok()) {
    fprintf(stderr, "netfs: spool %s: %s\n", dir.c_str(), entries.error().message().c_str());
    return 1;
  }
  if (unreadable)
    printf("spool %s: %zu sealed file(s) wait for a mount with their cache_key (%s)\n", dir.c_str(), unreadable,
           cipher ? "this key does not open them" : "netfs spool --key FILE lists them");
  if (entries->empty()) {
    if (!unreadable) printf("spool %s: nothing waits\n", dir.c_str());
    return 0;
  }
  printf("spool %s: %zu file(s) wait for their next mount\n", dir.c_str(), entries->size());
  for (const auto& e : *entries) {
    char when[32] = "?";
    time_t t = static_cast<time_t>(e.saved_at);
    struct tm tm;
    if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s  %s  %llu bytes in %zu range(s)  saved %s  (%s)\n", e.export_url.c_str(), e.path.c_str(),
           static_cast<unsigned long long>(e.bytes()), e.ranges.size(), when, e.id.c_str());
  }
  return 0;
}

}  // namespace netfs::cli
