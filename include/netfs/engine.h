// Engine: the process-wide part of netfs: options, the WorkQueue that runs collectors,
// Stats, Trace, and the accounting the kernel gives netfs for free: dirty bytes, the list
// of dirty inodes the flusher walks, and the waitqueue throttled writers sleep on.
//
// Threading: every method is thread-safe. acct_mu_ is the innermost lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "netfs/options.h"
#include "netfs/stats.h"
#include "netfs/trace.h"
#include "netfs/work_queue.h"

namespace netfs {

class Inode;
class RequestOps;
namespace cache {
class Cookie;
}

class Engine {
 public:
  explicit Engine(Options options = {});
  // Waits (up to 10 s) for requests and subrequests still being released by backend
  // threads. Requires: no flusher registered, no request waited on.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const Options& options() const { return options_; }
  Stats& stats() { return stats_; }
  Trace& trace() { return trace_; }
  WorkQueue& work_queue() { return wq_; }

  // ino: Inode::ino(), for trace records.
  std::shared_ptr<Inode> new_inode(RequestOps& ops, uint64_t backend_id, uint64_t remote_size,
                                   cache::Cookie* cookie = nullptr, uint64_t ino = 0);

  unsigned next_request_id() { return next_rreq_id_.fetch_add(1, std::memory_order_relaxed) + 1; }
  unsigned next_folioq_id() { return next_fq_id_.fetch_add(1, std::memory_order_relaxed) + 1; }

  // ---- memory budget ----
  // The budget in bytes for all folios (Options::memory_limit, or a quarter of RAM).
  uint64_t memory_limit() const { return memory_limit_; }
  uint64_t resident_bytes() const;
  // A clock for least-recently-used eviction: stamp a folio when it is used.
  uint64_t lru_tick() { return lru_clock_.fetch_add(1, std::memory_order_relaxed) + 1; }
  // Makes room for `incoming` more folio bytes by evicting clean, unused folios of any
  // inode, oldest first, down to the budget less a slack of 1/16 (so that eviction runs
  // in batches). Call with no mapping lock held. Returns bytes evicted.
  uint64_t reclaim(uint64_t incoming);

  // ---- dirty accounting ----
  // A folio of `inode` gained (n > 0) or lost (n < 0) dirty bytes.
  void account_dirty(Inode& inode, int64_t n);
  uint64_t dirty_bytes() const { return dirty_bytes_.load(std::memory_order_relaxed); }
  // Inodes with dirty data, oldest dirtied first; each keeps its inode alive.
  std::vector<std::shared_ptr<Inode>> dirty_inodes();
  // Drops an inode from the dirty list if it has no dirty bytes left.
  void maybe_clean(Inode& inode);

  // Folios of `inode` were read from the server and should be copied to the local cache
  // (Folio::copy_to_cache); the flusher's next pass does it through write-back stream 1.
  void note_cache_copy(Inode& inode);
  // Takes the inodes noted since the last call.
  std::vector<std::shared_ptr<Inode>> take_cache_copies();

  // ---- lasting refusals (ENOSPC, EROFS, ...: is_lasting_refusal) ----
  // The collector reports how a write-back of `inode` ended. A lasting refusal begins or
  // extends the inode's episode and puts its next flusher attempt off (refusal_backoff,
  // doubling); bytes landed without error end the episode. The hook hears of each
  // episode's start (error) and end (0), once each, outside the engine's locks.
  void note_writeback_result(Inode& inode, int error, uint64_t landed);
  // The file is gone: its episode ends without a word.
  void end_refusals(Inode& inode);
  void set_refusal_hook(std::function<void(Inode&, int error)> hook);
  enum class FlushTurn : uint8_t {
    kNow,    // write back as usual
    kProbe,  // refused before and due again: one folio, to see if the server takes it
    kLater,  // refused, not due yet
  };
  // *refused: the episode's errno, when there is one.
  FlushTurn flush_turn(Inode& inode, int* refused = nullptr);

  // Writers wait here while dirty_bytes() exceeds the limit. `kick` is the flusher's
  // wake-up, registered by the Flusher (null when none runs).
  void set_flusher_kick(std::function<void()> kick);
  void kick_flusher();
  bool has_flusher();
  // Wakes throttled writers (write-back made progress or failed).
  void notify_writeback_progress(int error);
  // Counts write-back errors; sample it before starting write-back, then wait.
  uint64_t writeback_error_gen();
  // Waits until dirty bytes drop below the limit (returns 0), a write-back error happens
  // after `gen` was sampled (returns it), `timeout` passes (returns -1: the caller
  // starts write-back again, since what it started may have skipped busy folios), or the
  // calling thread's Cancel is requested (returns EINTR).
  int wait_for_dirty_room(uint64_t limit, uint64_t gen, std::chrono::milliseconds timeout);

 private:
  Options options_;
  Stats stats_;
  Trace trace_;
  std::atomic<unsigned> next_rreq_id_{0};
  std::atomic<unsigned> next_fq_id_{0};

  std::mutex acct_mu_;
  std::condition_variable acct_cv_;
  std::atomic<uint64_t> dirty_bytes_{0};
  // Inodes with dirty bytes, in the order they were first dirtied; each entry keeps its
  // inode alive until the data is written. Guarded by acct_mu_.
  std::vector<std::shared_ptr<Inode>> dirty_list_;
  std::vector<std::shared_ptr<Inode>> copy_list_;  // guarded by acct_mu_
  std::function<void()> flusher_kick_;          // guarded by acct_mu_
  uint64_t wb_error_gen_ = 0;                   // guarded by acct_mu_
  int wb_last_error_ = 0;                       // guarded by acct_mu_
  std::function<void(Inode&, int)> refusal_hook_;  // guarded by acct_mu_

  uint64_t memory_limit_;
  std::atomic<uint64_t> lru_clock_{0};
  std::mutex reclaim_mu_;                       // one reclaimer at a time; before mapping locks
  std::mutex inodes_mu_;                        // guards inodes_
  std::vector<std::weak_ptr<Inode>> inodes_;    // every inode, for reclaim
  WorkQueue wq_;  // last: its threads stop first
};

}  // namespace netfs
