// Write collection, after the kernel's fs/netfs/write_collect.c.
//
// One collector per request, run either by the synchronous caller in its wait loop or by
// the request's WorkItem (kOffloadCollection). It never runs twice at once for a request.
//
// Algorithm, per pass:
//  1. For each active stream, walk the subrequests from the front, in file order. A
//     subrequest still in progress or awaiting a retry stops the walk: the stream has
//     "passed" everything before its start (+ what it already transferred). Finished
//     subrequests are accounted and dropped; permanent upload failures record their
//     unwritten range, cache failures invalidate the cookie.
//  2. The request has passed min(stream positions). A stream with nothing listed is at
//     its issued_to, or past everything once the issuer has queued all.
//  3. Folios whose written range ends at or before that point leave write-back: clean,
//     or dirty again if a failed upload range overlaps them (data is never dropped).
//  4. If any subrequest awaits a retry, retry them (after backoff), iteratively.
//  5. When everything is queued and no subrequest is left, record a permanent error in
//     the inode's error sequence and complete the request.
//
// Invariants:
//  I1. A folio leaves write-back only when every active stream is past its range.
//  I2. Bytes are counted transferred only from finished subrequests.
//  I3. Only the collector removes subrequests from a stream's list.
#include <algorithm>
#include <chrono>
#include <vector>

#include "core/collect.h"
#include "core/retry.h"
#include "core/trace_emit.h"
#include "netfs/cache_cookie.h"
#include "netfs/engine.h"
#include "netfs/write.h"
#include "write/internal.h"

namespace netfs::write {

namespace {

// Takes folios whose range ends at or before `upto` out of write-back (step 3).
void unlock_folios(Request* wreq, uint64_t upto) {
  Inode& inode = wreq->inode();
  Mapping& m = inode.mapping();
  Engine& e = wreq->engine_;
  std::vector<Folio*> done;
  for (;;) {
    FolioQueue::Slot* s = wreq->buffer.peek();
    if (!s || s->folio->pos() + s->to > upto) break;
    done.push_back(wreq->buffer.consume());
    // Record the range before the slot may be recycled: ranges are re-derived below from
    // the folio's own dirty range, which write-back does not change.
  }
  if (done.empty()) return;
  int64_t cleaned = 0;
  {
    std::lock_guard lk(m.mu_);
    for (Folio* f : done) {
      f->writeback = false;
      m.nr_writeback_--;
      gauge_add(e.stats().mem_writeback_bytes, -static_cast<int64_t>(f->accounted));
      if (retry::overlaps(wreq->failed_ranges_, f->pos() + f->dirty_from, f->pos() + f->dirty_to)) {
        f->dirty = true;  // keep the user's bytes for the next write-back
        m.note_dirty_locked(f->pos());
        bump(e.stats().wb_redirtied);
        NETFS_TRACE(e.trace(), folio, folio_redirty, wreq->ino_, wreq->debug_id_, 0, 0, 0, f->pos(), f->size(), 0);
        continue;
      }
      NETFS_TRACE(e.trace(), folio, folio_wb_end, wreq->ino_, wreq->debug_id_, 0, 0, 0, f->pos(), f->size(), 0);
      cleaned += static_cast<int64_t>(f->accounted);
      m.dirty_bytes_ -= f->accounted;
      f->accounted = 0;
      f->dirty_from = f->dirty_to = 0;
    }
    if (cleaned) e.account_dirty(inode, -cleaned);
  }
  m.cv_.notify_all();
  for (Folio* f : done) f->put_ref();
}

// The server now holds bytes up to `end`: they are no longer zero there, so a folio
// created later in that range must be read, not zero-filled. Raised before the folios
// leave write-back, so that nobody can drop one and find the range still "zero".
//
// Not clamped to the inode's size. The size is below `end` only while a shrinking
// truncate waits for this write-back; if the server then cuts the file, truncate lowers
// zero_point itself, but if the server refuses, truncate puts the size back and the bytes
// stay on the server: a zero_point clamped to the lowered size would sit below them and
// later reads would zero-fill them. A zero_point above the size costs at most a read.
//
// Counted in the inode's landed_seq, under the same lock, so that revalidate() knows a
// getattr sampled before this point may not include these bytes.
void raise_zero_point(Inode& inode, uint64_t end) {
  std::lock_guard lk(inode.mapping().mu_);
  if (end > inode.zero_point_locked()) inode.set_zero_point_locked(end);
  inode.note_landed_locked();
}

}  // namespace

void collect_write_results(Request* wreq) {
  Engine& e = wreq->engine_;
  if (!wreq->test(rreq_flag::kInProgress)) return;  // a late wake after completion
  NETFS_TRACE(e.trace(), rreq, rreq_collect, wreq->ino_, wreq->debug_id_, 0, 0, 0, wreq->collected_to_, 0, 0);

  for (;;) {
    if (!collect::retry_due(wreq, retry_writes)) return;

    // Read before the lists: the issuer sets it after its last append (acquire/release
    // through the flags word), so an empty list then really means "all collected".
    const bool all_queued = wreq->test(rreq_flag::kAllQueued);
    uint64_t passed = UINT64_MAX;
    uint64_t uploaded_to = 0;
    collect::Left left;

    for (Stream& s : wreq->streams) {
      if (!s.active) continue;
      auto rebased = [&](Subrequest* front, size_t t) {
        if (s.nr == 0) uploaded_to = std::max(uploaded_to, front->start_ + t);
      };
      auto finished = [&](Subrequest* front, uint32_t f) {
        if (f & sreq_flag::kFailed) {
          uint64_t a = front->start_ + front->transferred_, b = front->start_ + front->len_;
          if (s.nr == 0) {
            wreq->failed_ranges_.emplace_back(a, b);
            if (!s.error) s.error = front->error_;
            wreq->set_flag(rreq_flag::kFailed);
            bump(e.stats().write_abandoned);
          } else if (!s.failed.load(std::memory_order_relaxed)) {
            // The cache copy is best effort: forget what it holds rather than fail.
            wreq->inode().cookie()->invalidate();
            bump(e.stats().cache_invalidations);
          }
          if (s.nr == 1) s.failed.store(true, std::memory_order_relaxed);  // issuer stops feeding it
          NETFS_TRACE(e.trace(), sreq, sreq_abandon, wreq->ino_, wreq->debug_id_, front->debug_index_, s.nr, 0, a,
                      b - a, front->error_);
        }
        if (s.nr == 0 && front->transferred_) uploaded_to = std::max(uploaded_to, front->start_ + front->transferred_);
        return collect::Front::kDone;
      };
      passed = std::min(passed, collect::walk_stream(wreq, s, all_queued, rebased, finished));
      // Retry candidates anywhere in the list, not only at the front.
      left.add(collect::scan(wreq, s));
    }

    if (passed > wreq->collected_to_) wreq->collected_to_ = passed;
    if (uploaded_to) {
      raise_zero_point(wreq->inode(), uploaded_to);
      wreq->landed_to_ = std::max(wreq->landed_to_, uploaded_to);
    }
    unlock_folios(wreq, passed);

    if (left.need_retry) {
      if (collect::schedule_retry(wreq, left.max_retry_count, retry_writes)) continue;  // completions may already have come
      return;
    }
    if (!all_queued || left.any) return;
    break;
  }

  // Step 5: complete.
  Inode& inode = wreq->inode();
  const Stream& up = wreq->streams[0];
  int64_t result = static_cast<int64_t>(up.transferred);
  if (up.error) {
    inode.wb_err().set(up.error);
    bump(e.stats().wb_errors);
    result = -up.error;
  }
  e.note_writeback_result(inode, up.error, up.transferred);
  e.notify_writeback_progress(up.error);
  e.maybe_clean(inode);
  wreq->complete(result);
}

}  // namespace netfs::write
