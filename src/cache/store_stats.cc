#include "cache/store_stats.h"

namespace netfs::cache {

std::string StoreStats::json_fields() const {
  std::string s;
#define NETFS_STORE_STAT_JSON(name) s += ",\"cache_" #name "\":" + std::to_string(name.load());
  NETFS_STORE_STATS(NETFS_STORE_STAT_JSON)
#undef NETFS_STORE_STAT_JSON
  return s;
}

std::string StoreStats::text() const {
  std::string s;
#define NETFS_STORE_STAT_TEXT(name) s += std::string(s.empty() ? "" : " ") + #name "=" + std::to_string(name.load());
  NETFS_STORE_STATS(NETFS_STORE_STAT_TEXT)
#undef NETFS_STORE_STAT_TEXT
  return s;
}

}  // namespace netfs::cache
