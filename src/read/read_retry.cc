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


void retry_reads(Request* rreq) {
  Engine& e = rreq->engine_;
  Stream& s = rreq->streams[0];
  if (!s.need_retry) return;
  s.need_retry = false;
  bump(e.stats().read_retry_req);
  NETFS_TRACE(e.trace(), rreq, rreq_retry, rreq->ino_, rreq->debug_id_, 0, 0, 0, rreq->collected_to_, 0, 0);
  std::vector<Subrequest*> candidates;
  {
    std::lock_guard lk(rreq->lock_);
    for (Subrequest* sreq : s.subrequests) {
      uint32_t f = sreq->flags();
      if (!(f & sreq_flag::kInProgress) && (f & sreq_flag::kNeedRetry)) candidates.push_back(sreq);
    }
  }
  std::vector<Subrequest*> to_issue;
  for (Subrequest* sreq : candidates)
    retry::reissue(rreq, s, sreq, prepare_subrequest, e.stats().read_retry_subreq, e.stats().download_subreqs,
                   to_issue);
  // Issue only after every piece is listed: a fast completion then finds the list whole.
  for (Subrequest* sreq : to_issue) issue_subrequest(rreq, sreq);
}

}  // namespace netfs::reading
