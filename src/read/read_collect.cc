// Read collection, after the kernel's fs/netfs/read_collect.c.
//
// One collector per request, run by the synchronous caller in its wait loop or by the
// request's WorkItem (kOffloadCollection); never twice at once for a request. Per pass:
//  1. Walk the subrequests from the front, in file order. One still in progress or
//     awaiting a retry stops the walk. A finished one is accounted; one that hit the end
//     of the server's data has the rest of its range zero-filled; one that failed from
//     the cache is sent to the server instead; one that failed from the server records
//     its range as failed.
//  2. Folios wholly below the walk's position are done: dirty bytes of a streaming write
//     are laid back over them, they become uptodate (unless a failed range touches
//     them) and are unlocked, and readers waiting on them wake — progressively, as the
//     contiguous data arrives, not when the whole request ends.
//  3. Retries (after backoff) are reissued iteratively; the next pass sees how they end.
//  4. With everything queued and collected, the request completes with the bytes read
//     (up to the first end of data) or the first error.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/collect.h"
#include "core/retry.h"
#include "core/trace_emit.h"
#include "netfs/cache_cookie.h"
#include "netfs/engine.h"
#include "read/internal.h"

namespace netfs::reading {

namespace {

// Records that the server filled the first `t` bytes of the front subrequest. Fronts are
// collected in file order, so a range that continues the last one extends it: a
// sequential read keeps one range however many subrequests it takes.
void note_fetched(Request* rreq, const Subrequest* front, size_t t) {
  if (front->source_ != Source::kServer || t == 0) return;
  const uint64_t a = front->start_, b = a + t;
  auto& v = rreq->fetched_ranges_;
  if (!v.empty() && v.back().second == a)
    v.back().second = b;
  else
    v.emplace_back(a, b);
}

void unlock_folios(Request* rreq, uint64_t upto) {
  Inode& inode = rreq->inode();
  Mapping& m = inode.mapping();
  Engine& e = rreq->engine_;
  std::vector<Folio*> done;
  for (;;) {
    FolioQueue::Slot* s = rreq->buffer.peek();
    if (!s || s->folio->pos() + s->to > upto) break;
    done.push_back(rreq->buffer.consume());
  }
  if (done.empty()) return;
  std::vector<std::pair<uint64_t, std::vector<std::byte>>> saved;
  {
    std::lock_guard rl(rreq->lock_);
    if (!rreq->saved_dirty_.empty()) saved.swap(rreq->saved_dirty_);
  }
  cache::Cookie* cookie = inode.cookie();
  const bool copy = cookie && cookie->write_enabled() && !rreq->fetched_ranges_.empty();
  bool copied = false;
  {
    std::lock_guard lk(m.mu_);
    const uint64_t tick = e.lru_tick();
    for (Folio* f : done) {
      for (auto& [pos, bytes] : saved)
        if (pos == f->pos()) std::memcpy(f->data() + f->dirty_from, bytes.data(), bytes.size());
      f->uptodate = !retry::overlaps(rreq->failed_ranges_, f->pos(), f->end());
      f->locked = false;
      f->lru_tick = tick;
      // Server bytes go to the local cache later, by write-back's cache stream, so the
      // reader never waits for the cache.
      if (copy && f->uptodate && !f->dirty && retry::overlaps(rreq->fetched_ranges_, f->pos(), f->end())) {
        f->copy_to_cache = true;
        m.note_dirty_locked(f->pos());
        copied = true;
      }
      NETFS_TRACE(e.trace(), folio, folio_read_done, rreq->ino_, rreq->debug_id_, 0, 0, 0, f->pos(), f->size(),
                  f->uptodate ? 0 : -1);
    }
  }
  if (!saved.empty()) {
    // Put back what belongs to folios still in flight.
    std::lock_guard rl(rreq->lock_);
    for (auto& entry : saved) {
      bool used = std::any_of(done.begin(), done.end(), [&](Folio* f) { return f->pos() == entry.first; });
      if (!used) rreq->saved_dirty_.push_back(std::move(entry));
    }
  }
  m.cv_.notify_all();
  for (Folio* f : done) f->put_ref();
  if (copied) e.note_cache_copy(inode);
}

}  // namespace

void collect_read_results(Request* rreq) {
  Engine& e = rreq->engine_;
  if (!rreq->test(rreq_flag::kInProgress)) return;  // a late wake after completion
  NETFS_TRACE(e.trace(), rreq, rreq_collect, rreq->ino_, rreq->debug_id_, 0, 0, 0, rreq->collected_to_, 0, 0);
  Stream& s = rreq->streams[0];

  auto finished = [&](Subrequest* front, uint32_t f) {
    if ((f & sreq_flag::kFailed) && front->source_ == Source::kCache) {
      // The cache could not give these bytes: fetch them from the server instead.
      front->source_ = Source::kServer;
      front->retry_count_ = 0;
      front->flags_.store(sreq_flag::kNeedRetry, std::memory_order_release);
      bump(e.stats().download_subreqs);
      return collect::Front::kAgain;  // handled as a retry by the walk
    }
    const uint64_t a = front->start_ + front->transferred_, b = front->start_ + front->len_;
    if (f & sreq_flag::kFailed) {
      rreq->failed_ranges_.emplace_back(a, b);
      if (!s.error) s.error = front->error_;
      rreq->set_flag(rreq_flag::kFailed);
      bump(e.stats().download_failed);
      bump(e.stats().read_abandoned);
      NETFS_TRACE(e.trace(), sreq, sreq_abandon, rreq->ino_, rreq->debug_id_, front->debug_index_, 0, 0, a, b - a,
                  front->error_);
    } else if (a < b) {
      // The server had no more data: the rest reads as zeroes (a hole or past EOF).
      rreq->eof_at_ = std::min(rreq->eof_at_, a);
      if (rreq->flat_buf_ == nullptr) front->io().zero(b - a);
    }
    note_fetched(rreq, front, front->transferred_);
    if (front->source_ == Source::kServer) bump(e.stats().download_bytes, front->transferred_);
    if (front->source_ == Source::kCache) bump(e.stats().cache_read_bytes, front->transferred_);
    return collect::Front::kDone;
  };

  for (;;) {
    if (!collect::retry_due(rreq, retry_reads)) return;

    const bool all_queued = rreq->test(rreq_flag::kAllQueued);
    // A front awaiting a retry is rebased onto what is left, so the folios already
    // filled can be released.
    auto rebased = [&](Subrequest* front, size_t t) {
      bump(front->source_ == Source::kCache ? e.stats().cache_read_bytes : e.stats().download_bytes, t);
      note_fetched(rreq, front, t);
    };
    const uint64_t spos = collect::walk_stream(rreq, s, all_queued, rebased, finished);
    const collect::Left left = collect::scan(rreq, s);
    if (spos > rreq->collected_to_) rreq->collected_to_ = spos;
    unlock_folios(rreq, spos);

    if (left.need_retry) {
      if (collect::schedule_retry(rreq, left.max_retry_count, retry_reads)) continue;
      return;
    }
    if (!all_queued || left.any) return;
    break;
  }

  int64_t result = static_cast<int64_t>(s.transferred);
  if (s.error) result = -s.error;
  rreq->complete(result);
}

}  // namespace netfs::reading
