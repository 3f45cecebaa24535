#include "core/retry.h"

#include <algorithm>

#include "core/trace_emit.h"
#include "netfs/engine.h"

namespace netfs::retry {

std::chrono::nanoseconds backoff(const Options& o, unsigned retry_count) {
  auto base = std::chrono::duration_cast<std::chrono::nanoseconds>(o.retry_backoff);
  auto cap = std::chrono::duration_cast<std::chrono::nanoseconds>(o.retry_backoff_max);
  if (base.count() == 0) return base;
  return std::min(base * (int64_t{1} << std::min(retry_count, 20u)), cap);
}

size_t fit(const Subrequest& sreq, size_t rest) {
  size_t n = rest;
  if (sreq.max_len_) n = std::min(n, sreq.max_len_);
  if (sreq.max_segs_) {
    std::vector<iovec> segs;
    IoIter it = sreq.io();
    it.truncate(n);
    n = std::min(n, it.segments(segs, sreq.max_segs_));
  }
  return n ? n : rest;
}

void reissue(Request* rreq, Stream& s, Subrequest* sreq, void (*prepare)(Request*, Subrequest*),
             Counter& retries, Counter& pieces, std::vector<Subrequest*>& to_issue) {
  Engine& e = rreq->engine_;
  sreq->retry_count_++;
  bump(retries);
  NETFS_TRACE(e.trace(), sreq, sreq_retry, rreq->ino_, rreq->debug_id_, sreq->debug_index_, s.nr, 0,
              sreq->start_ + sreq->transferred_, sreq->len_ - sreq->transferred_, sreq->retry_count_);
  prepare(rreq, sreq);
  if (rreq->test(rreq_flag::kSingle)) sreq->max_len_ = sreq->max_segs_ = 0;  // never split
  const size_t rest = sreq->len_ - sreq->transferred_;
  const size_t n = fit(*sreq, rest);
  sreq->error_ = 0;
  sreq->flags_.store(sreq_flag::kInProgress | sreq_flag::kRetrying, std::memory_order_relaxed);
  to_issue.push_back(sreq);
  if (n == rest) return;

  // Split: the new pieces cover [start + transferred + n, end).
  const uint64_t end = sreq->start_ + sreq->len_;
  IoIter tail = sreq->io_base_;
  sreq->len_ = sreq->transferred_ + n;
  tail.advance(sreq->len_);
  uint64_t pos = sreq->start_ + sreq->len_;
  Subrequest* prev = sreq;
  while (pos < end) {
    auto* piece = new Subrequest(rreq, s.nr, rreq->next_sreq_index_++, pos);
    piece->source_ = sreq->source_;
    piece->io_base_ = tail;
    piece->len_ = static_cast<size_t>(end - pos);
    piece->retry_count_ = sreq->retry_count_;
    prepare(rreq, piece);
    const size_t m = fit(*piece, piece->len_);
    piece->len_ = m;
    piece->flags_.store(sreq_flag::kInProgress | sreq_flag::kRetrying, std::memory_order_relaxed);
    NETFS_TRACE(e.trace(), sreq, sreq_split, rreq->ino_, rreq->debug_id_, piece->debug_index_, s.nr, 0, pos, m, 0);
    {
      std::lock_guard lk(rreq->lock_);
      auto it = std::find(s.subrequests.begin(), s.subrequests.end(), prev);
      s.subrequests.insert(it + 1, piece);
    }
    bump(pieces);
    to_issue.push_back(piece);
    tail.advance(m);
    pos += m;
    prev = piece;
  }
}

bool overlaps(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint64_t a, uint64_t b) {
  for (auto& [fa, fb] : ranges)
    if (a < fb && fa < b) return true;
  return false;
}

}  // namespace netfs::retry
