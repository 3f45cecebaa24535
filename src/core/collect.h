// collect.h: the parts of a collector pass that the read and write collectors share, so
// the two cannot drift apart: waiting out a retry's backoff, the walk of a stream's
// subrequests from the front (stopping at one in progress or awaiting a retry, rebasing
// that one onto what it still has to move), the scan for retries anywhere in the list,
// and scheduling the retry. What a finished subrequest means stays with each side
// (write: failed ranges to redirty, the cache stream's invalidation; read: end of data,
// a cache miss sent to the server), and so does how bytes are counted.
#pragma once

#include <cstdint>
#include <mutex>

#include "netfs/request.h"

namespace netfs::collect {

// Step 0 of a pass. A retry waits for its backoff: false when it is not due yet (the
// collector returns; an offloaded one is queued again for when it is); otherwise the
// retry, if one was pending, is reissued with `retry` and the pass goes on (true).
bool retry_due(Request* rreq, void (*retry)(Request*));

enum class Front : uint8_t {
  kDone,   // collected: count it and drop it from the list
  kAgain,  // changed into a retry (read: a cache miss): look at it again
};

// Walks stream s from the front, in file order, and returns the position the stream
// has passed: the start of the first subrequest still in progress or awaiting a retry,
// s.issued_to when the list is empty while the issuer may still add to it, UINT64_MAX
// when everything listed is collected.
//  - A front awaiting a retry that moved t bytes is rebased onto the rest (so the folios
//    it filled can be released and its segments freed without leaving its iterator in
//    freed memory: rolling buffer rule 5), after rebased(front, t) has counted them;
//    s.transferred counts them too.
//  - A finished front goes to finished(front, flags); unless that says kAgain it is
//    counted in s.transferred and s.collected_to and dropped.
// Only the collector calls this (invariant: only it removes subrequests).
template <class Rebased, class Finished>
uint64_t walk_stream(Request* rreq, Stream& s, bool all_queued, Rebased&& rebased, Finished&& finished) {
  uint64_t spos = UINT64_MAX;
  for (;;) {
    Subrequest* front;
    {
      std::lock_guard lk(rreq->lock_);
      front = s.subrequests.empty() ? nullptr : s.subrequests.front();
      if (!front && !all_queued) spos = s.issued_to;
    }
    if (!front) break;
    const uint32_t f = front->flags();
    if (f & sreq_flag::kInProgress) {
      spos = front->start_;  // transferred_ belongs to the backend until terminated
      break;
    }
    if (f & sreq_flag::kNeedRetry) {
      if (size_t t = front->transferred_) {
        rebased(front, t);
        s.transferred += t;
        front->io_base_.advance(t);
        front->start_ += t;
        front->len_ -= t;
        front->transferred_ = 0;
      }
      spos = front->start_;
      break;
    }
    if (finished(front, f) == Front::kAgain) continue;
    s.transferred += front->transferred_;
    s.collected_to = front->start_ + front->len_;
    {
      std::lock_guard lk(rreq->lock_);
      s.subrequests.pop_front();
    }
    front->put_ref();
  }
  return spos;
}

// What is left on a stream after its walk.
struct Left {
  bool any = false;          // subrequests still listed
  bool need_retry = false;   // some of them await a retry (not only the front)
  unsigned max_retry_count = 0;
  void add(const Left& o);
};
// Looks through s's list for subrequests awaiting a retry; sets s.need_retry if any.
Left scan(Request* rreq, Stream& s);

// Some subrequest awaits a retry: with a backoff due, note when and return false (the
// collector returns; an offloaded one is queued for then); without one, reissue now with
// `retry` and return true (the pass looks again: completions may already have come).
bool schedule_retry(Request* rreq, unsigned max_retry_count, void (*retry)(Request*));

}  // namespace netfs::collect
