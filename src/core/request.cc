// Request and Subrequest lifetime, completion and the wait/wake that every caller shares.
// See the numbered rules in include/netfs/request.h.
#include "netfs/request.h"

#include <cassert>

#include "core/trace_emit.h"
#include "netfs/cancel.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/result.h"

namespace netfs {

const char* origin_name(Origin o) {
  switch (o) {
    case Origin::kReadahead: return "readahead";
    case Origin::kReadFolio: return "read_folio";
    case Origin::kReadSingle: return "read_single";
    case Origin::kUnbufferedRead: return "unbuffered_read";
    case Origin::kWriteback: return "writeback";
    case Origin::kWritethrough: return "writethrough";
    case Origin::kUnbufferedWrite: return "unbuffered_write";
    case Origin::kWriteSingle: return "write_single";
  }
  return "?";
}

namespace {

Counter& origin_counter(Stats& s, Origin o) {
  switch (o) {
    case Origin::kReadahead: return s.req_readahead;
    case Origin::kReadFolio: return s.req_read_folio;
    case Origin::kReadSingle: return s.req_read_single;
    case Origin::kUnbufferedRead: return s.req_unbuffered_read;
    case Origin::kWriteback: return s.req_writeback;
    case Origin::kWritethrough: return s.req_writethrough;
    case Origin::kUnbufferedWrite: return s.req_unbuffered_write;
    case Origin::kWriteSingle: return s.req_write_single;
  }
  return s.req_writeback;
}

void collector_trampoline(void* owner) {
  auto* rreq = static_cast<Request*>(owner);
  rreq->collect_fn_(rreq);
}

}  // namespace

// ---------------------------------------------------------------- Subrequest

Subrequest::Subrequest(Request* rreq, uint8_t stream, unsigned index, uint64_t start)
    : rreq_(rreq), start_(start), debug_index_(index), stream_nr_(stream) {
  rreq_->get_ref();  // rule 5
  gauge_add(rreq_->engine_.stats().objs_subrequests, 1);
  NETFS_TRACE(rreq_->engine_.trace(), sreq, sreq_alloc, rreq_->ino_, rreq_->debug_id_, debug_index_, stream_nr_, 0,
              start_, 0, 0);
}

Subrequest::~Subrequest() {
  NETFS_TRACE(rreq_->engine_.trace(), sreq, sreq_free, rreq_->ino_, rreq_->debug_id_, debug_index_, stream_nr_, 0,
              start_, len_, static_cast<int64_t>(transferred_));
  gauge_add(rreq_->engine_.stats().objs_subrequests, -1);
  rreq_->put_ref();
}

void Subrequest::put_ref() {
  // acq_rel: publishes every holder's writes to the thread that frees it.
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

IoIter Subrequest::io() const {
  IoIter it = io_base_;
  it.advance(transferred_);
  it.truncate(len_ - transferred_);
  return it;
}

void Subrequest::terminated(int64_t result) {
  Request* rreq = rreq_;
  Engine& engine = rreq->engine_;
  Stats& st = engine.stats();
  const bool write = is_write_origin(rreq->origin_);
  const bool cache_stream = write && stream_nr_ == 1;
  uint32_t set = 0;

  if (result < 0) {
    error_ = static_cast<int>(-result);
    // Cache writes are never retried: the collector invalidates the cookie instead.
    if (!cache_stream && is_retryable(error_) && retry_count_ < engine.options().max_retries)
      set |= sreq_flag::kNeedRetry;
    else
      set |= sreq_flag::kFailed;
  } else {
    size_t n = static_cast<size_t>(result);
    if (n > len_ - transferred_) n = len_ - transferred_;  // a backend claiming too much
    transferred_ += n;
    if (n > 0) {
      set |= sreq_flag::kMadeProgress;
      retry_count_ = 0;  // progress resets the no-progress count
    }
    if (write) bump(stream_nr_ == 0 ? st.upload_bytes : st.cache_write_bytes, n);
    if (transferred_ < len_) {
      set |= sreq_flag::kShort;
      bump(write ? st.upload_short_ : st.download_short_);
      if (!write && test(sreq_flag::kHitEof)) {
        // Only the backend knows a short read is the end of the data (9P's Rread cannot
        // tell a zero-byte EOF from a hiccup, but the backend knows the size it asked
        // about); the read collector zero-fills the rest.
        set |= sreq_flag::kHitEof;
      } else if (n == 0 && retry_count_ > 0) {
        // A retry that moved nothing would loop forever: abandon it.
        error_ = EIO;
        set |= sreq_flag::kFailed;
      } else if (retry_count_ >= engine.options().max_retries) {
        error_ = EIO;
        set |= sreq_flag::kFailed;
      } else {
        set |= sreq_flag::kNeedRetry;
      }
    }
  }
  if (set & sreq_flag::kFailed) {
    if (write) bump(stream_nr_ == 0 ? st.upload_failed : st.cache_write_failed);
    NETFS_TRACE(engine.trace(), sreq, sreq_fail, rreq->ino_, rreq->debug_id_, debug_index_, stream_nr_, 0, start_, len_,
                error_);
  } else if (set & sreq_flag::kShort) {
    NETFS_TRACE(engine.trace(), sreq, sreq_short, rreq->ino_, rreq->debug_id_, debug_index_, stream_nr_, 0, start_,
                len_, static_cast<int64_t>(transferred_));
  } else {
    NETFS_TRACE(engine.trace(), sreq, sreq_done, rreq->ino_, rreq->debug_id_, debug_index_, stream_nr_, 0, start_, len_,
                static_cast<int64_t>(transferred_));
  }
  // Publishes transferred_, error_ and the outcome to the collector (acquire in flags()).
  uint32_t old = flags_.load(std::memory_order_relaxed);
  uint32_t nv;
  do {
    nv = (old & ~(sreq_flag::kInProgress | sreq_flag::kMadeProgress | sreq_flag::kNeedRetry)) | set;
  } while (!flags_.compare_exchange_weak(old, nv, std::memory_order_release, std::memory_order_relaxed));
  rreq->wake_collector();
  put_ref();  // the reference taken for the issue
}

// ---------------------------------------------------------------- Request

Request::Request(Engine& engine, std::shared_ptr<Inode> inode, Origin origin, uint64_t start, uint64_t len)
    : engine_(engine),
      inode_(std::move(inode)),
      origin_(origin),
      debug_id_(engine.next_request_id()),
      ino_(inode_ ? inode_->ino() : 0),
      start_(start),
      len_(len),
      buffer(&engine.stats(), &engine.trace(), debug_id_, ino_),
      work_(collector_trampoline, this) {
  streams[0].nr = 0;
  streams[1].nr = 1;
  streams[0].issued_to = streams[1].issued_to = start;
  streams[0].collected_to = streams[1].collected_to = start;
  collected_to_ = start;
  gauge_add(engine_.stats().objs_requests, 1);
  bump(origin_counter(engine_.stats(), origin));
  NETFS_TRACE(engine_.trace(), rreq, rreq_alloc, ino_, debug_id_, 0, 0, 0, start, len, static_cast<int64_t>(origin));
}

Request::~Request() {
  for (Stream& s : streams)
    for (Subrequest* sreq : s.subrequests) sreq->put_ref();
  NETFS_TRACE(engine_.trace(), rreq, rreq_free, ino_, debug_id_, 0, 0, 0, start_, len_, result_);
  // Release the inode (and with it, perhaps, its folios) before the gauge says the
  // request is gone, so that "no requests alive" implies everything they held is freed.
  inode_.reset();
  gauge_add(engine_.stats().objs_requests, -1);
}

void Request::put_ref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    // Rule 4: never free inline. The caller may be a backend's I/O thread or the collector
    // itself; cleanup waits out the collector on a worker. The collector's item may still
    // be queued (a late wake) or running (it may have dropped the last reference itself).
    WorkQueue& wq = engine_.work_queue();
    wq.run([this, &wq] {
      wq.cancel_sync(&work_);
      delete this;
    });
  }
}

void Request::wake_collector() {
  if (!test(rreq_flag::kOffloadCollection)) {
    std::unique_lock lk(lock_);
    // Checked again under lock_: an interrupted waiter hands collection to the WorkQueue
    // (wait()) by setting the flag under lock_, so a wake is either counted before that,
    // and seen by the collection it queues, or sees the flag and queues one itself.
    if (!test(rreq_flag::kOffloadCollection)) {
      wake_seq_++;
      lk.unlock();
      waitq_.notify_all();
      return;
    }
  }
  engine_.work_queue().queue(&work_);
}

void Request::complete(int64_t result) {
  NETFS_TRACE(engine_.trace(), rreq, rreq_done, ino_, debug_id_, 0, 0, 0, start_, len_, result);
  {
    std::lock_guard lk(lock_);
    result_ = result;
    clear_flag(rreq_flag::kInProgress);
    wake_seq_++;
  }
  waitq_.notify_all();
  put_ref();
}

int64_t Request::wait() {
  NETFS_TRACE(engine_.trace(), rreq, rreq_wait, ino_, debug_id_, 0, 0, 0, start_, len_, 0);
  // A request that moves the caller's own buffer (unbuffered, single) cannot be left
  // behind: the backend would write into memory the caller frees when it returns.
  Cancel* cancel = flat_buf_ ? nullptr : Cancel::current();
  if (test(rreq_flag::kOffloadCollection)) {
    std::unique_lock lk(lock_);
    if (!wait_cancellable(cancel, waitq_, lk, [&] { return !test(rreq_flag::kInProgress); })) return interrupted();
    return result_;
  }
  // Synchronous: this thread is the collector.
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard lk(lock_);
      seen = wake_seq_;
    }
    collect_fn_(this);
    if (!test(rreq_flag::kInProgress)) break;
    std::unique_lock lk(lock_);
    auto woken = [&] { return wake_seq_ != seen; };
    auto until = retry_pending_ ? retry_at_ : std::chrono::steady_clock::time_point::max();
    if (wait_cancellable_until(cancel, waitq_, lk, until, woken) == WaitEnd::kCancelled) {
      // The collector's work goes to the WorkQueue from here on: a completion that comes
      // after the flag queues the WorkItem itself, and the one queued here collects
      // whatever came before it (rule 3: queuing a queued item only notes a rerun).
      set_flag(rreq_flag::kOffloadCollection);
      lk.unlock();
      engine_.work_queue().queue(&work_);
      return interrupted();
    }
  }
  std::lock_guard lk(lock_);  // result_ was published under lock_ by the completion
  return result_;
}

int64_t Request::interrupted() {
  // The waiter leaves; the request goes on. Traced as a second wait event with -EINTR.
  NETFS_TRACE(engine_.trace(), rreq, rreq_wait, ino_, debug_id_, 0, 0, 0, start_, len_, -EINTR);
  return -EINTR;
}

}  // namespace netfs
