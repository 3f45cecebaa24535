// Folio: a power-of-two span of one file's bytes in memory with the page cache's state
// bits, after the kernel's struct folio. A folio that a write covered only in part and
// whose other bytes were never read ("streaming write") is dirty but not uptodate, and
// records the dirty byte range so that write-back sends only those bytes.
//
// Threading: the state bits and the dirty range are guarded by the owning Mapping's
// mutex. The data may be written only by the thread that set `locked`, and is stable
// (nobody writes it) while `writeback` is set, so backends may read it without locks.
// The reference count is atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace netfs {

class Folio {
 public:
  Folio(uint64_t pos, size_t size);
  ~Folio();
  Folio(const Folio&) = delete;
  Folio& operator=(const Folio&) = delete;

  uint64_t pos() const { return pos_; }
  size_t size() const { return size_; }
  uint64_t end() const { return pos_ + size_; }
  std::byte* data() const { return data_; }

  void get_ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Holders besides the mapping. References are taken under the mapping's lock, so a
  // folio seen with only the mapping's reference, under that lock, is unused.
  int extra_refs() const { return refs_.load(std::memory_order_relaxed) - 1; }
  void put_ref() {
    // acq_rel: publishes this holder's writes to the thread that frees the folio.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // ---- guarded by Mapping::mu_ ----
  bool uptodate = false;   // every byte of data() is valid
  bool dirty = false;      // [dirty_from, dirty_to) must reach the server
  bool writeback = false;  // under write-back; data() is stable
  bool locked = false;     // a writer or reader owns data()
  size_t dirty_from = 0;   // byte offsets inside the folio
  size_t dirty_to = 0;
  uint64_t dirtied_at_ns = 0;  // when it went from clean to dirty (flusher age)
  uint64_t lru_tick = 0;       // last access, for eviction of clean folios
  bool copy_to_cache = false;  // read from the server; write-back copies it to the cache
  // Bytes of this folio counted in the inode's and engine's dirty totals: set when it is
  // dirtied, kept through write-back (which must finish before the folio counts as
  // clean), and given back when it is cleaned or dropped.
  size_t accounted = 0;

  size_t dirty_len() const { return dirty ? dirty_to - dirty_from : 0; }

 private:
  const uint64_t pos_;
  const size_t size_;
  std::byte* data_;
  std::atomic<int> refs_{1};
};

}  // namespace netfs
