// Stats: the engine's counters, a flat struct of relaxed atomics grouped by phase, after
// the kernel's fs/netfs/stats.c and /proc/fs/netfs/stats. One printer renders them as
// kernel-style lines or as one JSON object (full names such as "write.retry_subreq").
//
// Threading: any thread may bump any counter; readers see a momentary, not a consistent,
// snapshot (as in the kernel).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace netfs {

using Counter = std::atomic<uint64_t>;
using Gauge = std::atomic<int64_t>;

// X(group, field): every counter, in print order.
#define NETFS_STATS_COUNTERS(X)                                                        \
  X(req, writeback)         /* writeback requests (flusher, fsync, writepages)  */     \
  X(req, writethrough)                                                                 \
  X(req, unbuffered_write)                                                             \
  X(req, write_single)                                                                 \
  X(req, readahead)                                                                    \
  X(req, read_folio)                                                                   \
  X(req, unbuffered_read)                                                              \
  X(req, read_single)                                                                  \
  X(write, buffered_calls)  /* perform_write calls */                                  \
  X(write, buffered_bytes)                                                             \
  X(write, throttled)       /* writers that waited for the dirty limit */              \
  X(write, flush_conflict)  /* folios written early: non-contiguous streaming write */ \
  X(upload, subreqs)        /* stream 0 subrequests issued (first issue) */            \
  X(upload, bytes)          /* bytes the server accepted */                            \
  X(upload, short_)         /* short transfers */                                      \
  X(upload, failed)         /* subrequests that failed for good */                     \
  X(cache, write_subreqs)   /* stream 1 subrequests */                                 \
  X(cache, write_bytes)                                                                \
  X(cache, write_failed)                                                               \
  X(cache, invalidations)                                                              \
  X(cache, read_subreqs)                                                               \
  X(cache, read_bytes)                                                                 \
  X(download, subreqs)                                                                 \
  X(download, bytes)                                                                   \
  X(download, short_)                                                                  \
  X(download, failed)                                                                  \
  X(write, retry_req)       /* write requests that needed a retry pass */              \
  X(write, retry_subreq)    /* write subrequests reissued */                           \
  X(write, abandoned)       /* write subrequests given up (cap or no progress) */      \
  X(read, retry_req)                                                                   \
  X(read, retry_subreq)                                                                \
  X(read, abandoned)                                                                   \
  X(read, buffered_calls)   /* buffered_read calls */                                  \
  X(read, buffered_bytes)   /* bytes copied out by buffered_read */                    \
  X(read, hits)             /* folios found uptodate */                                \
  X(read, misses)           /* folios that had to be read */                           \
  X(read, zero_filled)      /* subrequests zero-filled past the server's data */       \
  X(mem, evicted)           /* clean folios evicted for the memory budget */           \
  X(mem, invalidated)       /* clean folios dropped because the server copy changed */ \
  X(wb, redirtied)          /* folios kept dirty after a failed write-back */          \
  X(wb, folios_walked)      /* folios write-back looked at to find dirty ones */       \
  X(wb, errors)             /* errors recorded in an inode's error sequence */         \
  X(wb, refusals)           /* write-back refused with a lasting error (ENOSPC, ...) */ \
  X(wb, refused_files)      /* files that began an episode of such refusals */         \
  X(wb, backed_off)         /* flusher passes that left a refused file for later */    \
  X(wb, discarded_bytes)    /* dirty bytes dropped: the file was deleted, unopened */  \
  X(flusher, runs)                                                                     \
  X(flusher, age_writebacks)                                                           \
  X(flusher, limit_writebacks)                                                         \
  X(client, reconnects)     /* backend reconnections (9P) */

// X(group, field): gauges (values that go up and down).
#define NETFS_STATS_GAUGES(X) \
  X(objs, requests)           \
  X(objs, subrequests)        \
  X(objs, folioqs)            \
  X(objs, folios)             \
  X(mem, resident_bytes)      \
  X(mem, dirty_bytes)         \
  X(mem, writeback_bytes)     \
  X(wb, refused_now)          /* files whose write-back the server refuses now */

class Stats {
 public:
#define NETFS_STATS_DECLARE(group, field) Counter group##_##field{0};
  NETFS_STATS_COUNTERS(NETFS_STATS_DECLARE)
#undef NETFS_STATS_DECLARE
#define NETFS_STATS_DECLARE(group, field) Gauge group##_##field{0};
  NETFS_STATS_GAUGES(NETFS_STATS_DECLARE)
#undef NETFS_STATS_DECLARE

  // Kernel-style text, one line per group: "Upload : subreqs=3 bytes=12288 ...".
  std::string format_text() const;
  // One JSON object: {"upload_subreqs":3,...} plus the flat names external tools expect
  // (upload_subrequests, upload_bytes, retried_subrequests, dirty_bytes, ...).
  std::string format_json() const;
};

inline void bump(Counter& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
inline void gauge_add(Gauge& g, int64_t n) { g.fetch_add(n, std::memory_order_relaxed); }
inline uint64_t read(const Counter& c) { return c.load(std::memory_order_relaxed); }
inline int64_t read(const Gauge& g) { return g.load(std::memory_order_relaxed); }

}  // namespace netfs
