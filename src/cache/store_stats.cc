#include "cache/store_stats.h"

namespace netfs::cache {

void StoreStats::collect(Metrics& m) const {
#define NETFS_STORE_STAT_COLLECT(name, help) m.push_back({"cache", #name, false, help, name.load()});
  NETFS_STORE_STATS(NETFS_STORE_STAT_COLLECT)
#undef NETFS_STORE_STAT_COLLECT
}

}  // namespace netfs::cache
