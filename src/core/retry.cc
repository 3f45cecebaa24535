#include "core/retry.h"

#include <algorithm>

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

bool overlaps(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint64_t a, uint64_t b) {
  for (auto& [fa, fb] : ranges)
    if (a < fb && fa < b) return true;
  return false;
}

}  // namespace netfs::retry
