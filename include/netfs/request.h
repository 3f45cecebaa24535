// Request and Subrequest: one I/O operation on one file and its RPC-sized pieces, after
// the kernel's netfs_io_request / netfs_io_subrequest / netfs_io_stream.
//
// Lifetime (the rules the seed fixed; see docs/ARCHITECTURE.md "Request lifetime"):
//  1. References are intrusive and counted; every get/put names its reason in the trace.
//  2. A request holds one reference of its own while it is in progress; the collector
//     drops it when it marks the request complete.
//  3. The collector's WorkItem holds no reference. Queuing it when it is queued or running
//     does nothing more than note a rerun.
//  4. The last put never frees inline: it schedules cleanup on the WorkQueue (a one-off
//     function, not an item inside the request it frees), and cleanup first cancels or
//     waits out the collector's WorkItem, then frees.
//  5. Each subrequest holds a reference on its request until it is freed.
//
// Completion and collection:
//  - A backend completes a subrequest with terminated() from any thread. That records the
//    result, clears kInProgress (release) and wakes the collector: if the request is
//    marked kOffloadCollection the collector WorkItem is queued, otherwise the one
//    synchronous waiter is woken and collects in its own wait loop.
//  - Only the collector advances a request's state past issue.
//
// What backends use: start(), len(), transferred(), io(), set_max_len(),
// set_max_segments(), stream_nr(), retry_count(), request().inode(), terminated().
// Members below "engine state" are the engine's: backends must not touch them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "netfs/io_iter.h"
#include "netfs/refcount.h"
#include "netfs/rolling_buffer.h"
#include "netfs/work_queue.h"

namespace netfs {

class Engine;
class Inode;
class Request;

enum class Origin : uint8_t {
  kReadahead,
  kReadFolio,
  kReadSingle,
  kUnbufferedRead,
  kWriteback,
  kWritethrough,
  kUnbufferedWrite,
  kWriteSingle,
};
const char* origin_name(Origin o);
inline bool is_write_origin(Origin o) { return o >= Origin::kWriteback; }

// Where a read subrequest's bytes come from.
enum class Source : uint8_t { kUnknown, kServer, kCache, kZeroFill };

namespace sreq_flag {
constexpr uint32_t kInProgress = 1u << 0;    // issued or being built; not yet terminated
constexpr uint32_t kMadeProgress = 1u << 1;  // the last attempt moved some bytes
constexpr uint32_t kNeedRetry = 1u << 2;     // terminated with a retryable outcome
constexpr uint32_t kFailed = 1u << 3;        // failed for good; error() says why
constexpr uint32_t kRetrying = 1u << 4;      // this attempt is a retry
constexpr uint32_t kShort = 1u << 5;         // a short transfer happened
constexpr uint32_t kHitEof = 1u << 6;        // read: the server had no more bytes
}  // namespace sreq_flag

namespace rreq_flag {
constexpr uint32_t kInProgress = 1u << 0;          // not yet completely collected
constexpr uint32_t kOffloadCollection = 1u << 1;   // a WorkQueue worker collects
constexpr uint32_t kAllQueued = 1u << 2;           // the issuer has built every subrequest
constexpr uint32_t kNeedRetry = 1u << 3;           // some subrequest awaits reissue
constexpr uint32_t kFailed = 1u << 4;              // some range failed for good
constexpr uint32_t kSingle = 1u << 5;              // one subrequest per stream, never split
}  // namespace rreq_flag

class Subrequest {
 public:
  // ---- for backends ----
  Request& request() const { return *rreq_; }
  uint64_t start() const { return start_; }
  size_t len() const { return len_; }
  size_t transferred() const { return transferred_; }
  uint8_t stream_nr() const { return stream_nr_; }
  unsigned debug_index() const { return debug_index_; }
  unsigned retry_count() const { return retry_count_; }
  Source source() const { return source_; }
  // The bytes still to move: from start() + transferred() to start() + len().
  IoIter io() const;
  // Limits set by prepare_write/prepare_read (0 = unlimited).
  void set_max_len(size_t n) { max_len_ = n; }
  void set_max_segments(size_t n) { max_segs_ = n; }
  size_t max_len() const { return max_len_; }
  size_t max_segments() const { return max_segs_; }
  // Completion: bytes moved by this attempt (>= 0), or -errno. Exactly once per issue,
  // from any thread. For reads, a backend may also call set_hit_eof() before.
  void terminated(int64_t bytes_or_neg_errno);
  void set_hit_eof() { flags_.fetch_or(sreq_flag::kHitEof, std::memory_order_relaxed); }

  uint32_t flags() const { return flags_.load(std::memory_order_acquire); }
  bool test(uint32_t f) const { return flags() & f; }
  int error() const { return error_; }

  // ---- engine state ----
  Subrequest(Request* rreq, uint8_t stream, unsigned index, uint64_t start);
  ~Subrequest();
  void get_ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void put_ref();

  Request* rreq_;
  uint64_t start_;
  size_t len_ = 0;
  size_t transferred_ = 0;      // written by terminated(), read by the collector after acquire
  size_t max_len_ = 0;
  size_t max_segs_ = 0;
  size_t nr_segs_ = 0;          // segments added while building
  int error_ = 0;
  unsigned retry_count_ = 0;    // consecutive reissues without progress
  unsigned debug_index_;
  uint8_t stream_nr_;
  Source source_ = Source::kUnknown;
  IoIter io_base_;              // positioned at start_
  std::atomic<uint32_t> flags_{sreq_flag::kInProgress};
  std::atomic<int> refs_{1};
};

// One write destination (or the one read source stream) of a request.
struct Stream {
  uint8_t nr = 0;
  bool active = false;
  std::atomic<bool> failed{false};    // set by the collector: the issuer stops feeding it
  int error = 0;                      // first permanent error
  // Issuer side, guarded by Request::lock_ for the collector's reads.
  Subrequest* construct = nullptr;    // being built
  uint64_t issued_to = 0;             // every byte below is in a listed subrequest
  size_t sreq_max_len = 0;
  size_t sreq_max_segs = 0;
  std::deque<Subrequest*> subrequests;  // in file order; holds a ref each
  // Collector side.
  uint64_t collected_to = 0;
  uint64_t transferred = 0;
  bool need_retry = false;
};

class Request {
 public:
  // ---- for backends ----
  Inode& inode() const { return *inode_; }
  Origin origin() const { return origin_; }
  unsigned debug_id() const { return debug_id_; }
  uint64_t start() const { return start_; }
  uint64_t len() const { return len_; }

  // ---- engine state ----
  Request(Engine& engine, std::shared_ptr<Inode> inode, Origin origin, uint64_t start, uint64_t len);
  ~Request();
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  void get_ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void put_ref();  // the last put schedules cleanup (rule 4)

  uint32_t flags() const { return flags_.load(std::memory_order_acquire); }
  bool test(uint32_t f) const { return flags() & f; }
  void set_flag(uint32_t f) { flags_.fetch_or(f, std::memory_order_acq_rel); }
  void clear_flag(uint32_t f) { flags_.fetch_and(~f, std::memory_order_acq_rel); }

  // Wakes the collector: queue the WorkItem (offloaded) or the synchronous waiter.
  void wake_collector();
  // The collector's last act: publish the result, clear kInProgress, wake waiters and drop
  // the in-progress reference (rule 2). The request may be freed by the time it returns.
  void complete(int64_t result);
  // Waits for the request to finish, collecting inline unless offloaded. Returns bytes
  // transferred (stream 0) or the first permanent error; -EINTR when the calling thread's
  // Cancel is requested first (then the request goes on, collected on the WorkQueue,
  // unless it moves a caller's flat buffer: such a wait cannot be cancelled).
  int64_t wait();
  int64_t interrupted();  // wait()'s way out on a cancel

  Engine& engine_;
  std::shared_ptr<Inode> inode_;
  const Origin origin_;
  const unsigned debug_id_;
  const uint64_t ino_;  // inode_->ino() for trace records (inode_ is released before the last)
  uint64_t start_;
  uint64_t len_;
  std::atomic<uint32_t> flags_{rreq_flag::kInProgress};
  std::atomic<int> refs_{2};  // the creator's, and the in-progress one (rule 2)

  // One lock and one waitqueue for everything that waits on this request (the seed's
  // "consistent wait/wake").
  std::mutex lock_;
  std::condition_variable waitq_;
  uint64_t wake_seq_ = 0;  // guarded by lock_; bumped by every wake

  Stream streams[2];
  RollingBuffer buffer;
  unsigned next_sreq_index_ = 0;
  std::byte* flat_buf_ = nullptr;  // unbuffered and single I/O: the caller's bytes

  // Collector state.
  uint64_t collected_to_ = 0;
  int error_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> failed_ranges_;  // upload ranges to redirty / reads that failed
  uint64_t landed_to_ = 0;  // write: end of the furthest upload bytes that landed (0 = none)
  // Read: dirty bytes of streaming-write folios this request reads into, put back before
  // the folio is unlocked so a read never loses a write (keyed by folio position).
  std::vector<std::pair<uint64_t, std::vector<std::byte>>> saved_dirty_;
  uint64_t eof_at_ = UINT64_MAX;  // read: the lowest position where the server had no more
  std::vector<std::pair<uint64_t, uint64_t>> fetched_ranges_;  // read: ranges the server filled (contiguous ones merged)
  std::chrono::steady_clock::time_point retry_at_{};
  bool retry_pending_ = false;
  int64_t result_ = 0;  // set when complete

  void (*collect_fn_)(Request*) = nullptr;  // write or read collector, set by the issuer
  WorkItem work_;          // runs collect_fn_; holds no reference (rule 3)
};

using RequestRef = RefPtr<Request>;

// Kernel-style spellings of completion, for backends that prefer them.
inline void write_subrequest_terminated(Subrequest* sreq, int64_t bytes_or_neg_errno) {
  sreq->terminated(bytes_or_neg_errno);
}
inline void read_subrequest_terminated(Subrequest* sreq, int64_t bytes_or_neg_errno) {
  sreq->terminated(bytes_or_neg_errno);
}

}  // namespace netfs
