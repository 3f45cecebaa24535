// Write retry, after the kernel's fs/netfs/write_retry.c.
//
// Called by the collector only, never from a completion, so retries are iterative: a
// pass reissues what is marked kNeedRetry and returns; the next collector pass sees how
// those attempts ended. For each such subrequest the rest of its range is re-prepared
// (the backend may give new limits, e.g. a smaller msize after a reconnect); if the rest
// no longer fits one subrequest it is split, and the new pieces are listed right after
// it so the stream stays in file order. The no-progress count and the hard cap are
// applied in Subrequest::terminated(); here every reissue is counted.
#include <algorithm>
#include <vector>

#include "core/retry.h"
#include "core/trace_emit.h"
#include "netfs/engine.h"
#include "write/internal.h"

namespace netfs::write {

namespace {

void reissue(Request* wreq, Stream& s, Subrequest* sreq, std::vector<Subrequest*>& to_issue) {
  Engine& e = wreq->engine_;
  sreq->retry_count_++;
  bump(e.stats().write_retry_subreq);
  NETFS_TRACE(e.trace(), sreq, sreq_retry, wreq->debug_id_, sreq->debug_index_, s.nr, 0,
              sreq->start_ + sreq->transferred_, sreq->len_ - sreq->transferred_, sreq->retry_count_);
  prepare_subrequest(wreq, sreq);
  if (wreq->test(rreq_flag::kSingle)) sreq->max_len_ = sreq->max_segs_ = 0;
  size_t rest = sreq->len_ - sreq->transferred_;
  size_t n = retry::fit(*sreq, rest);
  sreq->error_ = 0;
  sreq->flags_.store(sreq_flag::kInProgress | sreq_flag::kRetrying, std::memory_order_relaxed);
  to_issue.push_back(sreq);
  if (n == rest) return;

  // Split: the new pieces cover [start + transferred + n, end).
  uint64_t end = sreq->start_ + sreq->len_;
  IoIter tail = sreq->io_base_;
  sreq->len_ = sreq->transferred_ + n;
  tail.advance(sreq->len_);
  uint64_t pos = sreq->start_ + sreq->len_;
  Subrequest* prev = sreq;
  while (pos < end) {
    auto* piece = new Subrequest(wreq, s.nr, wreq->next_sreq_index_++, pos);
    piece->io_base_ = tail;
    piece->len_ = static_cast<size_t>(end - pos);
    piece->retry_count_ = sreq->retry_count_;
    prepare_subrequest(wreq, piece);
    size_t m = retry::fit(*piece, piece->len_);
    piece->len_ = m;
    piece->flags_.store(sreq_flag::kInProgress | sreq_flag::kRetrying, std::memory_order_relaxed);
    NETFS_TRACE(e.trace(), sreq, sreq_split, wreq->debug_id_, piece->debug_index_, s.nr, 0, pos, m, 0);
    {
      std::lock_guard lk(wreq->lock_);
      auto it = std::find(s.subrequests.begin(), s.subrequests.end(), prev);
      s.subrequests.insert(it + 1, piece);
    }
    bump(s.nr == 0 ? e.stats().upload_subreqs : e.stats().cache_write_subreqs);
    to_issue.push_back(piece);
    tail.advance(m);
    pos += m;
    prev = piece;
  }
}

}  // namespace

void retry_writes(Request* wreq) {
  Engine& e = wreq->engine_;
  bump(e.stats().write_retry_req);
  NETFS_TRACE(e.trace(), rreq, rreq_retry, wreq->debug_id_, 0, 0, 0, wreq->collected_to_, 0, 0);
  for (Stream& s : wreq->streams) {
    if (!s.active || !s.need_retry) continue;
    s.need_retry = false;
    std::vector<Subrequest*> candidates;
    {
      std::lock_guard lk(wreq->lock_);
      for (Subrequest* sreq : s.subrequests) {
        uint32_t f = sreq->flags();
        if (!(f & sreq_flag::kInProgress) && (f & sreq_flag::kNeedRetry)) candidates.push_back(sreq);
      }
    }
    std::vector<Subrequest*> to_issue;
    for (Subrequest* sreq : candidates) reissue(wreq, s, sreq, to_issue);
    // Issue only after every piece is listed: a fast completion then finds the list whole.
    for (Subrequest* sreq : to_issue) issue_subrequest(wreq, sreq);
  }
}

}  // namespace netfs::write
