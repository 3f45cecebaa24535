// Mapping: one file's folio cache, ordered by file offset, after the kernel's
// address_space. Holds the folio state lock and the one waitqueue on which threads wait
// for a folio to unlock or to finish write-back.
//
// Threading: mu_ guards the folio index and every folio's state bits (lock order: an
// Inode's io_lock, then Mapping::mu_, then Engine's accounting lock). Folio data is
// guarded by the folio's own `locked` / `writeback` bits, not by mu_, so copies happen
// without holding mu_.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

#include "netfs/folio.h"

namespace netfs {

class Mapping {
 public:
  explicit Mapping(size_t folio_size);
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  size_t folio_size() const { return folio_size_; }
  uint64_t folio_pos(uint64_t pos) const { return pos & ~static_cast<uint64_t>(folio_size_ - 1); }

  // Requires: mu_ held. The folio at `pos`'s folio index, or null.
  Folio* find_locked(uint64_t pos) const;
  // Requires: mu_ held. Finds or creates the folio; sets *created when it is new.
  Folio* find_or_create_locked(uint64_t pos, bool* created);
  // Requires: mu_ held; folio clean, unlocked, not under write-back. Drops it.
  void erase_locked(Folio* f);
  // Requires: mu_ held through lk; f is in the index. Waits until f is unlocked (holding
  // a reference, so f stays valid), then returns the index entry at or after f's
  // position, for the caller to look again: f may have been dropped meanwhile.
  std::map<uint64_t, Folio*>::iterator wait_unlocked_locked(std::unique_lock<std::mutex>& lk, Folio* f);

  std::mutex mu_;
  std::condition_variable cv_;  // a folio unlocked or finished write-back
  std::map<uint64_t, Folio*> folios_;  // keyed by pos; each holds a folio reference
  uint64_t nr_writeback_ = 0;          // folios under write-back
  // No folio below this position is dirty or waits for a copy to the cache, so
  // write-back starts its walk here instead of at the file's first folio (as Linux finds
  // dirty pages by a tag). Without it every flusher pass and every throttled writer's
  // kick walked every clean folio of a large file under mu_, blocking writers and
  // collectors the while: the larger the memory budget, the more folios, the slower a
  // long sequential write (issue 16). Lowered by note_dirty_locked wherever a folio
  // becomes dirty or copy_to_cache; raised only by write-back's walk (pick_batch) past
  // folios it saw settled, in one hold of mu_.
  uint64_t dirty_from_ = UINT64_MAX;
  // Requires: mu_ held. The folio at pos just became dirty or copy_to_cache.
  void note_dirty_locked(uint64_t pos) {
    if (pos < dirty_from_) dirty_from_ = pos;
  }
  // Sum of dirty_len() over folios. Changed under mu_; read without it by
  // Engine::maybe_clean, which holds the engine lock (taken after mu_ elsewhere).
  std::atomic<uint64_t> dirty_bytes_{0};

 private:
  const size_t folio_size_;
};

}  // namespace netfs
