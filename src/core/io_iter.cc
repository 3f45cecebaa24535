#include "netfs/io_iter.h"

#include <algorithm>
#include <cstring>

#include "netfs/rolling_buffer.h"

namespace netfs {

// Calls fn(ptr, n) for each segment of the first n bytes of the view; stops early when fn
// returns false. Returns the bytes visited.
template <typename F>
size_t IoIter::walk(size_t n, F&& fn) const {
  n = std::min(n, count_);
  if (flat_) {
    if (n) fn(flat_, n);
    return n;
  }
  size_t done = 0;
  FolioQueue* q = q_;
  unsigned slot = slot_;
  size_t skip = skip_;
  while (done < n && q) {
    if (slot >= FolioQueue::kSlots) {
      q = q->next.load(std::memory_order_acquire);
      slot = 0;
      continue;
    }
    const FolioQueue::Slot& s = q->slots[slot];
    size_t avail = s.len() - skip;
    if (avail == 0) {
      skip = 0;
      slot++;
      continue;
    }
    size_t part = std::min(avail, n - done);
    if (!fn(s.folio->data() + s.from + skip, part)) return done + part;
    done += part;
    skip = 0;
    slot++;
  }
  return done;
}

void IoIter::advance(size_t n) {
  n = std::min(n, count_);
  count_ -= n;
  if (flat_) {
    flat_ += n;
    return;
  }
  while (n) {
    if (slot_ >= FolioQueue::kSlots) {
      q_ = q_->next.load(std::memory_order_acquire);
      slot_ = 0;
      continue;
    }
    size_t avail = q_->slots[slot_].len() - skip_;
    if (n < avail) {
      skip_ += n;
      return;
    }
    n -= avail;
    skip_ = 0;
    slot_++;
  }
  // Step into the next segment now if it exists: an iterator left at the end of a
  // segment would keep pointing into it after the collector has freed it (rolling buffer
  // rule 4 frees a spent segment once its successor is linked).
  if (slot_ >= FolioQueue::kSlots) {
    if (FolioQueue* next = q_->next.load(std::memory_order_acquire)) {
      q_ = next;
      slot_ = 0;
    }
  }
}

size_t IoIter::segments(std::vector<iovec>& out, size_t max_segments) const {
  size_t nseg = 0;
  return walk(count_, [&](std::byte* p, size_t n) {
    out.push_back(iovec{p, n});
    return !(max_segments && ++nseg >= max_segments);
  });
}

size_t IoIter::segment_count() const {
  size_t nseg = 0;
  walk(count_, [&](std::byte*, size_t) {
    nseg++;
    return true;
  });
  return nseg;
}

size_t IoIter::copy_out(void* dst, size_t n) const {
  auto* d = static_cast<std::byte*>(dst);
  return walk(n, [&](std::byte* p, size_t len) {
    std::memcpy(d, p, len);
    d += len;
    return true;
  });
}

size_t IoIter::copy_in(const void* src, size_t n) const {
  auto* s = static_cast<const std::byte*>(src);
  return walk(n, [&](std::byte* p, size_t len) {
    std::memcpy(p, s, len);
    s += len;
    return true;
  });
}

size_t IoIter::zero(size_t n) const {
  return walk(n, [&](std::byte* p, size_t len) {
    std::memset(p, 0, len);
    return true;
  });
}

}  // namespace netfs
