#include "core/collect.h"

#include <algorithm>
#include <chrono>

#include "core/retry.h"
#include "netfs/engine.h"

namespace netfs::collect {

bool retry_due(Request* rreq, void (*retry)(Request*)) {
  if (!rreq->retry_pending_) return true;
  auto now = std::chrono::steady_clock::now();
  if (now < rreq->retry_at_) {
    if (rreq->test(rreq_flag::kOffloadCollection))
      rreq->engine_.work_queue().queue_delayed(&rreq->work_, rreq->retry_at_ - now);
    return false;
  }
  rreq->retry_pending_ = false;
  retry(rreq);
  return true;
}

void Left::add(const Left& o) {
  any |= o.any;
  need_retry |= o.need_retry;
  max_retry_count = std::max(max_retry_count, o.max_retry_count);
}

Left scan(Request* rreq, Stream& s) {
  Left l;
  std::lock_guard lk(rreq->lock_);
  for (Subrequest* sreq : s.subrequests) {
    l.any = true;
    uint32_t f = sreq->flags();
    if (!(f & sreq_flag::kInProgress) && (f & sreq_flag::kNeedRetry)) {
      l.need_retry = true;
      s.need_retry = true;
      l.max_retry_count = std::max(l.max_retry_count, sreq->retry_count_);
    }
  }
  return l;
}

bool schedule_retry(Request* rreq, unsigned max_retry_count, void (*retry)(Request*)) {
  auto delay = retry::backoff(rreq->engine_.options(), max_retry_count);
  if (delay.count() > 0) {
    rreq->retry_pending_ = true;
    rreq->retry_at_ = std::chrono::steady_clock::now() + delay;
    if (rreq->test(rreq_flag::kOffloadCollection)) rreq->engine_.work_queue().queue_delayed(&rreq->work_, delay);
    return false;
  }
  retry(rreq);
  return true;
}

}  // namespace netfs::collect
