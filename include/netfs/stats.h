// Stats: the engine's counters, a flat struct of relaxed atomics grouped by phase, after
// the kernel's fs/netfs/stats.c and /proc/fs/netfs/stats. One printer renders them as
// kernel-style lines, as one JSON object (names such as "write_retry_subreq") or in
// the Prometheus format, through include/netfs/metrics.h.
//
// Threading: any thread may bump any counter; readers see a momentary, not a consistent,
// snapshot (as in the kernel).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "netfs/metrics.h"

namespace netfs {

using Counter = std::atomic<uint64_t>;
using Gauge = std::atomic<int64_t>;

// X(group, field, help): every counter, in print order. help is the line that
// `netfs stats --prometheus` prints; a counter added here is in every format of
// `netfs stats` (include/netfs/metrics.h).
#define NETFS_STATS_COUNTERS(X) \
  X(req, writeback, "writeback requests (flusher, fsync, writepages)") \
  X(req, writethrough, "write-through requests") \
  X(req, unbuffered_write, "unbuffered (direct) write requests") \
  X(req, write_single, "write_single requests (a whole object at once)") \
  X(req, readahead, "readahead requests") \
  X(req, read_folio, "single-folio read requests") \
  X(req, unbuffered_read, "unbuffered (direct) read requests") \
  X(req, read_single, "read_single requests (a whole object at once)") \
  X(write, buffered_calls, "buffered write calls") \
  X(write, buffered_bytes, "bytes written by buffered write calls") \
  X(write, throttled, "writers that waited for the dirty limit") \
  X(write, flush_conflict, "folios written early: non-contiguous streaming write") \
  X(upload, subreqs, "upload subrequests issued (first issue)") \
  X(upload, bytes, "bytes the server accepted") \
  X(upload, short_, "short uploads") \
  X(upload, failed, "upload subrequests that failed for good") \
  X(cache, write_subreqs, "subrequests writing to the local cache") \
  X(cache, write_bytes, "bytes written to the local cache") \
  X(cache, write_failed, "local cache writes that failed") \
  X(cache, invalidations, "cache objects invalidated after a failed cache write") \
  X(cache, read_subreqs, "subrequests reading from the local cache") \
  X(cache, read_bytes, "bytes read from the local cache") \
  X(download, subreqs, "download subrequests issued") \
  X(download, bytes, "bytes read from the server") \
  X(download, short_, "short downloads") \
  X(download, failed, "download subrequests that failed for good") \
  X(write, retry_req, "write requests that needed a retry pass") \
  X(write, retry_subreq, "write subrequests reissued") \
  X(write, abandoned, "write subrequests given up (cap or no progress)") \
  X(read, retry_req, "read requests that needed a retry pass") \
  X(read, retry_subreq, "read subrequests reissued") \
  X(read, abandoned, "read subrequests given up") \
  X(read, buffered_calls, "buffered read calls") \
  X(read, buffered_bytes, "bytes copied out by buffered reads") \
  X(read, hits, "folios found uptodate") \
  X(read, misses, "folios that had to be read") \
  X(read, zero_filled, "subrequests zero-filled past the server's data") \
  X(mem, evicted, "clean folios evicted for the memory budget") \
  X(mem, invalidated, "clean folios dropped because the server copy changed") \
  X(wb, redirtied, "folios kept dirty after a failed write-back") \
  X(wb, folios_walked, "folios write-back looked at to find dirty ones") \
  X(wb, errors, "errors recorded in an inode's error sequence") \
  X(wb, refusals, "write-back refused with a lasting error (ENOSPC, ...)") \
  X(wb, refused_files, "files that began an episode of such refusals") \
  X(wb, backed_off, "flusher passes that left a refused file for later") \
  X(wb, discarded_bytes, "dirty bytes dropped: the file was deleted, unopened") \
  X(flusher, runs, "flusher passes") \
  X(flusher, age_writebacks, "write-backs started because dirty data was old") \
  X(flusher, limit_writebacks, "write-backs started because of the dirty limit")

// X(group, field, help): gauges (values that go up and down).
#define NETFS_STATS_GAUGES(X) \
  X(objs, requests, "live I/O requests") \
  X(objs, subrequests, "live subrequests") \
  X(objs, folioqs, "live folio queue segments") \
  X(objs, folios, "live folios") \
  X(mem, resident_bytes, "bytes of file data in memory") \
  X(mem, dirty_bytes, "bytes of file data in memory not yet written to the server") \
  X(mem, writeback_bytes, "bytes being written to the server") \
  X(wb, refused_now, "files whose write-back the server refuses now")

class Stats {
 public:
#define NETFS_STATS_DECLARE(group, field, help) Counter group##_##field{0};
  NETFS_STATS_COUNTERS(NETFS_STATS_DECLARE)
#undef NETFS_STATS_DECLARE
#define NETFS_STATS_DECLARE(group, field, help) Gauge group##_##field{0};
  NETFS_STATS_GAUGES(NETFS_STATS_DECLARE)
#undef NETFS_STATS_DECLARE

  // Appends every counter and gauge to m, in table order (include/netfs/metrics.h).
  void collect(Metrics& m) const;
  // Kernel-style text, one line per group: "Upload   : subreqs=3 bytes=12288 ...".
  std::string format_text() const;
  // One flat JSON object: {"upload_subreqs":3,...}, each counter once as group_field.
  std::string format_json() const;
};

inline void bump(Counter& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
inline void gauge_add(Gauge& g, int64_t n) { g.fetch_add(n, std::memory_order_relaxed); }
inline uint64_t read(const Counter& c) { return c.load(std::memory_order_relaxed); }
inline int64_t read(const Gauge& g) { return g.load(std::memory_order_relaxed); }

}  // namespace netfs
