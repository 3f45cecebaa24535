// IoIter: the bytes one subrequest moves, seen by a backend as a list of memory segments.
// It is either a run of folios in a request's RollingBuffer (buffered I/O) or a flat
// caller buffer (unbuffered I/O and *_single), after the kernel's ITER_FOLIOQ / ITER_UBUF.
//
// Threading: an IoIter is a value. The memory it names stays valid and stable until the
// subrequest is terminated: folios under I/O are pinned (writeback or locked).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace netfs {

struct FolioQueue;

class IoIter {
 public:
  IoIter() = default;
  static IoIter flat(std::byte* base, size_t count) {
    IoIter it;
    it.flat_ = base;
    it.count_ = count;
    return it;
  }
  static IoIter folioq(FolioQueue* q, unsigned slot, size_t skip, size_t count) {
    IoIter it;
    it.q_ = q;
    it.slot_ = slot;
    it.skip_ = skip;
    it.count_ = count;
    return it;
  }

  size_t count() const { return count_; }
  // Moves the start forward by n bytes (n <= count()).
  void advance(size_t n);
  // Limits the view to its first n bytes.
  void truncate(size_t n) {
    if (n < count_) count_ = n;
  }
  // Appends the segments (at most max_segments, 0 = no limit) to out; returns the bytes
  // they cover.
  size_t segments(std::vector<iovec>& out, size_t max_segments = 0) const;
  // Number of segments the view spans.
  size_t segment_count() const;
  // Copy from the view into dst / from src into the view; return bytes copied.
  size_t copy_out(void* dst, size_t n) const;
  size_t copy_in(const void* src, size_t n) const;
  // Zero n bytes of the view.
  size_t zero(size_t n) const;

 private:
  template <typename F>
  size_t walk(size_t n, F&& fn) const;

  std::byte* flat_ = nullptr;
  FolioQueue* q_ = nullptr;
  unsigned slot_ = 0;
  size_t skip_ = 0;  // bytes into the slot's range
  size_t count_ = 0;
};

}  // namespace netfs
