// StoreStats: counters of one cache Store, for `netfs stats` and `netfs cache`. The
// engine counts cache reads and writes as the I/O paths see them (cache_read_bytes, ...);
// these count what only the store knows: hits and misses by granule, checksum failures,
// evictions, durable writes.
//
// Threading: atomics, relaxed; read at any time.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "netfs/metrics.h"

namespace netfs::cache {

// X(name, help): `netfs stats` prints each in group "cache" next to the engine's cache
// counters (include/netfs/metrics.h), so a name here must not repeat one of those.
#define NETFS_STORE_STATS(X) \
  X(lookups, "present() calls") \
  X(hit_bytes, "bytes present() found cached") \
  X(miss_bytes, "bytes read from the server instead, each counted once") \
  X(read_granules, "granules read and verified") \
  X(corrupt_granules, "granules whose checksum failed: dropped, re-fetched") \
  X(written_granules, "granules made durable and marked present") \
  X(written_bytes, "bytes made durable in the cache") \
  X(skipped_granules, "not stored: no room under the limit") \
  X(gather_refused, "encrypted granule pieces not stored: the store's gather memory was at its cap") \
  X(dropped_granules, "overwritten, truncated or invalidated") \
  X(evicted_granules, "granules of open files evicted") \
  X(evicted_objects, "whole closed files evicted") \
  X(evicted_bytes, "bytes evicted") \
  X(cookies_emptied, "cookies emptied (coherency mismatch, failed write)") \
  X(io_errors, "cache file I/O errors") \
  X(auth_failures, "encrypted granules, map records or headers that failed authentication: dropped") \
  X(listing_hits, "opendirs served from a cached directory listing") \
  X(listing_misses, "opendirs that had to read the listing from the server") \
  X(listing_stores, "listings written to the cache")

struct StoreStats {
#define NETFS_STORE_STAT_FIELD(name, help) std::atomic<uint64_t> name{0};
  NETFS_STORE_STATS(NETFS_STORE_STAT_FIELD)
#undef NETFS_STORE_STAT_FIELD

  // Appends every counter as group "cache" (include/netfs/metrics.h).
  void collect(Metrics& m) const;
};

inline void add(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

}  // namespace netfs::cache
