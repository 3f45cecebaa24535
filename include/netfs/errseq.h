// Errseq: a per-inode error sequence after the kernel's errseq_t, so that a write-back
// error is reported once to every file description that was open when it happened (each
// fsync caller sees it once), however many times write-back failed in between.
//
// Layout of the 32-bit value: errno in the low 12 bits, a "seen" flag, and a counter in
// the remaining bits. A new error bumps the counter unless the current error is the same
// errno and nobody has seen it yet (no point waking readers for a repeat).
//
// Threading: lock-free; any thread may set, sample or check.
#pragma once

#include <atomic>
#include <cstdint>

namespace netfs {

class Errseq {
 public:
  using Cursor = uint32_t;

  // Records an error (positive errno).
  void set(int errnum);
  // A cursor for a new file description: errors that nobody has seen yet are reported
  // to it, errors already seen are not.
  Cursor sample() const;
  // Returns the error recorded since `since` (or 0), marks it seen and advances `since`.
  int check_and_advance(Cursor& since);
  // Error recorded since `since` without advancing (0 if none).
  int check(Cursor since) const;

 private:
  static constexpr uint32_t kErrnoBits = 12;
  static constexpr uint32_t kErrnoMask = (1u << kErrnoBits) - 1;
  static constexpr uint32_t kSeen = 1u << kErrnoBits;
  static constexpr uint32_t kCtrInc = 1u << (kErrnoBits + 1);
  std::atomic<uint32_t> v_{0};
};

}  // namespace netfs
