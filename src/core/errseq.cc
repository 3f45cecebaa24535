#include "netfs/errseq.h"

namespace netfs {

void Errseq::set(int errnum) {
  if (errnum <= 0) return;
  uint32_t err = static_cast<uint32_t>(errnum) & kErrnoMask;
  uint32_t old = v_.load(std::memory_order_relaxed);
  for (;;) {
    // A repeat of an error nobody has seen yet changes nothing.
    if ((old & kErrnoMask) == err && !(old & kSeen) && old != 0) return;
    uint32_t nv = ((old & ~(kErrnoMask | kSeen)) + kCtrInc) | err;
    if (v_.compare_exchange_weak(old, nv, std::memory_order_release, std::memory_order_relaxed))
      return;
  }
}

Errseq::Cursor Errseq::sample() const {
  uint32_t old = v_.load(std::memory_order_acquire);
  // An error nobody has seen yet is reported to the new file description.
  return (old & kSeen) ? old : 0;
}

int Errseq::check(Cursor since) const {
  uint32_t cur = v_.load(std::memory_order_acquire);
  if ((cur & ~kSeen) == (since & ~kSeen)) return 0;
  return static_cast<int>(cur & kErrnoMask);
}

int Errseq::check_and_advance(Cursor& since) {
  uint32_t old = v_.load(std::memory_order_acquire);
  if ((old & ~kSeen) == (since & ~kSeen)) return 0;
  uint32_t nv = old | kSeen;
  // Mark seen; a concurrent set() wins and will be reported next time.
  if (!(old & kSeen)) v_.compare_exchange_strong(old, nv, std::memory_order_acq_rel);
  since = nv;
  return static_cast<int>(nv & kErrnoMask);
}

}  // namespace netfs
