#include "netfs/trace.h"

#include <chrono>
#include <cstdio>

namespace netfs {

const char* trace_label(TraceReason r) {
  switch (r) {
#define NETFS_TRACE_LABEL(name, kind, label) \
  case TraceReason::k_##name:                \
    return label;
    NETFS_TRACE_REASONS(NETFS_TRACE_LABEL)
#undef NETFS_TRACE_LABEL
  }
  return "?";
}

std::string TraceRecord::format() const {
  char buf[224];
  int n = std::snprintf(buf, sizeof buf, "%12.6f %-11s R=%08x S=%u s%u Q=%u pos=%llx len=%llx v=%lld",
                        static_cast<double>(time_ns) / 1e9, trace_label(reason), rreq, sreq, stream, folioq,
                        static_cast<unsigned long long>(pos), static_cast<unsigned long long>(len),
                        static_cast<long long>(value));
  if (ino && n > 0 && static_cast<size_t>(n) < sizeof buf)
    std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), " ino=%llu", static_cast<unsigned long long>(ino));
  return buf;
}

Trace::Trace(size_t entries) {
  size_t n = 1;
  while (n < entries) n <<= 1;
  ring_.resize(n);
  mask_ = n - 1;
}

void Trace::emit(TraceReason reason, uint64_t ino, uint32_t rreq, uint16_t sreq, uint8_t stream, uint32_t folioq,
                 uint64_t pos, uint64_t len, int64_t value) {
  uint64_t now = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
  std::lock_guard lk(mu_);
  uint64_t seq = ++next_;
  ring_[seq & mask_] = TraceRecord{seq, now, reason, stream, sreq, rreq, folioq, ino, pos, len, value};
}

std::vector<TraceRecord> Trace::snapshot(uint64_t after) const {
  std::lock_guard lk(mu_);
  std::vector<TraceRecord> out;
  uint64_t first = next_ > ring_.size() ? next_ - ring_.size() + 1 : 1;
  if (after + 1 > first) first = after + 1;
  for (uint64_t s = first; s <= next_; s++) out.push_back(ring_[s & mask_]);
  return out;
}

uint64_t Trace::last_seq() const {
  std::lock_guard lk(mu_);
  return next_;
}

}  // namespace netfs
