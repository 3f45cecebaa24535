// Read retry, after the kernel's fs/netfs/read_retry.c; the mirror of write_retry.cc.
//
// Called by the collector only, so retries are iterative. Each subrequest marked
// kNeedRetry is re-prepared (the backend may give new limits after a reconnect) and
// reissued for the rest of its range; if the rest no longer fits, it is split and the
// pieces are listed right after it, keeping file order. The no-progress rule and the hard
// cap are applied in Subrequest::terminated(); every reissue is counted here.
#include <algorithm>
#include <vector>

#include "core/retry.h"
#include "core/trace_emit.h"
#include "netfs/engine.h"
#include "read/internal.h"

namespace netfs::reading {

namespace {

void reissue(Request* rreq, Stream& s, Subrequest* sreq, std::vector<Subrequest*>& to_issue) {
  Engine& e = rreq->engine_;
  sreq->retry_count_++;
  bump(e.stats().read_retry_subreq);
  NETFS_TRACE(e.trace(), sreq, sreq_retry, rreq->debug_id_, sreq->debug_index_, 0, 0,
              sreq->start_ + sreq->transferred_, sreq->len_ - sreq->transferred_, sreq->retry_count_);
  prepare_subrequest(rreq, sreq);
  const size_t rest = sreq->len_ - sreq->transferred_;
  const size_t n = retry::fit(*sreq, rest);
  sreq->error_ = 0;
  sreq->flags_.store(sreq_flag::kInProgress | sreq_flag::kRetrying, std::memory_order_relaxed);
  to_issue.push_back(sreq);
  if (n == rest) return;

  const uint64_t end = sreq->start_ + sreq->len_;
  IoIter tail = sreq->io_base_;
  sreq->len_ = sreq->transferred_ + n;
  tail.advance(sreq->len_);
  uint64_t pos = sreq->start_ + sreq->len_;
  Subrequest* prev = sreq;
  while (pos < end) {
    auto* piece = new Subrequest(rreq, 0, rreq->next_sreq_index_++, pos);
    piece->source_ = sreq->source_;
    piece->io_base_ = tail;
    piece->len_ = static_cast<size_t>(end - pos);
    piece->retry_count_ = sreq->retry_count_;
    prepare_subrequest(rreq, piece);
    const size_t m = retry::fit(*piece, piece->len_);
    piece->len_ = m;
    piece->flags_.store(sreq_flag::kInProgress | sreq_flag::kRetrying, std::memory_order_relaxed);
    NETFS_TRACE(e.trace(), sreq, sreq_split, rreq->debug_id_, piece->debug_index_, 0, 0, pos, m, 0);
    {
      std::lock_guard lk(rreq->lock_);
      auto it = std::find(s.subrequests.begin(), s.subrequests.end(), prev);
      s.subrequests.insert(it + 1, piece);
    }
    bump(e.stats().download_subreqs);
    to_issue.push_back(piece);
    tail.advance(m);
    pos += m;
    prev = piece;
  }
}

}  // namespace

void retry_reads(Request* rreq) {
  Engine& e = rreq->engine_;
  Stream& s = rreq->streams[0];
  if (!s.need_retry) return;
  s.need_retry = false;
  bump(e.stats().read_retry_req);
  NETFS_TRACE(e.trace(), rreq, rreq_retry, rreq->debug_id_, 0, 0, 0, rreq->collected_to_, 0, 0);
  std::vector<Subrequest*> candidates;
  {
    std::lock_guard lk(rreq->lock_);
    for (Subrequest* sreq : s.subrequests) {
      uint32_t f = sreq->flags();
      if (!(f & sreq_flag::kInProgress) && (f & sreq_flag::kNeedRetry)) candidates.push_back(sreq);
    }
  }
  std::vector<Subrequest*> to_issue;
  for (Subrequest* sreq : candidates) reissue(rreq, s, sreq, to_issue);
  // Issue only after every piece is listed: a fast completion then finds the list whole.
  for (Subrequest* sreq : to_issue) issue_subrequest(rreq, sreq);
}

}  // namespace netfs::reading
