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


void retry_writes(Request* wreq) {
  Engine& e = wreq->engine_;
  bump(e.stats().write_retry_req);
  NETFS_TRACE(e.trace(), rreq, rreq_retry, wreq->ino_, wreq->debug_id_, 0, 0, 0, wreq->collected_to_, 0, 0);
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
    for (Subrequest* sreq : candidates)
      retry::reissue(wreq, s, sreq, prepare_subrequest, e.stats().write_retry_subreq,
                     s.nr == 0 ? e.stats().upload_subreqs : e.stats().cache_write_subreqs, to_issue);
    // Issue only after every piece is listed: a fast completion then finds the list whole.
    for (Subrequest* sreq : to_issue) issue_subrequest(wreq, sreq);
  }
}

}  // namespace netfs::write
