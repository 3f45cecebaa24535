// Invalidation, after the kernel's invalidate_inode_pages2_range + netfs_invalidate_folio:
// the server's copy changed, so cached bytes of ours may be stale. Clean folios go; a
// folio holding dirty bytes stays (they are ours and not yet written) but is no longer
// uptodate outside its dirty range, which makes it a streaming-write folio that later
// reads fill in from the server.
#include <algorithm>
#include <vector>

#include "netfs/cache_cookie.h"
#include "netfs/engine.h"
#include "netfs/read.h"
#include "read/internal.h"

namespace netfs {

void invalidate_range(Inode& inode, uint64_t start, uint64_t end) {
  Engine& e = inode.engine();
  Mapping& m = inode.mapping();
  std::vector<Folio*> drop;
  {
    std::unique_lock lk(m.mu_);
    for (auto it = m.folios_.lower_bound(m.folio_pos(start)); it != m.folios_.end() && it->first < end;) {
      Folio* f = it->second;
      if (f->locked) {
        // Being read (those bytes may already be stale) or written: wait, then look again.
        it = m.wait_unlocked_locked(lk, f);
        continue;
      }
      ++it;
      if (f->dirty || f->writeback) {
        if (f->dirty_from != 0 || f->dirty_to != f->size()) f->uptodate = false;
        continue;
      }
      if (f->extra_refs() != 0) {
        f->uptodate = false;  // a waiter holds it; it will read again
        continue;
      }
      m.folios_.erase(f->pos());
      drop.push_back(f);
    }
  }
  m.cv_.notify_all();
  gauge_add(e.stats().objs_folios, -static_cast<int64_t>(drop.size()));
  gauge_add(e.stats().mem_resident_bytes, -static_cast<int64_t>(drop.size() * m.folio_size()));
  bump(e.stats().mem_invalidated, drop.size());
  for (Folio* f : drop) f->put_ref();
}

void revalidate(Inode& inode, uint64_t size, bool changed, uint64_t landed_seq) {
  Mapping& m = inode.mapping();
  if (changed) {
    invalidate_range(inode, 0, UINT64_MAX);
    if (cache::Cookie* c = inode.cookie()) c->invalidate();
  }
  std::lock_guard lk(m.mu_);
  // The collector bumps the count under this lock when it raises zero_point, so if it has
  // not moved, every upload that landed after the caller's sample is still uncollected:
  // its folios are under write-back (counted in `keep` below, and kept by the
  // invalidation), and the collector raises zero_point over it after we return. An
  // unbuffered write has no folios, but it sets the size itself after it is collected.
  const bool known = landed_seq != kLandedSeqUnknown;
  const bool landed_since = known && inode.landed_seq() != landed_seq;
  // Our dirty data may reach beyond the server's size: keep the larger. Only folios with
  // bytes of ours count (accounted): a clean folio on its way to the cache is under
  // write-back too, with nothing of ours in it.
  uint64_t keep = 0;
  for (auto& [pos, f] : m.folios_)
    if ((f->dirty || f->writeback) && f->accounted) keep = std::max(keep, pos + f->dirty_to);
  // Our uploads that landed after the getattr made the server's file at least as long
  // as they reach, and our size covers them (the bytes were ours, now clean).
  if (landed_since) keep = std::max(keep, inode.size_locked());
  if (changed || size > inode.size_locked()) inode.set_size_locked(std::max(size, keep));
  // The server holds data up to its size now; beyond it, nothing but what we uploaded
  // after its answer, which the current zero_point already covers.
  if (changed) inode.set_zero_point_locked(known && !landed_since ? size : std::max(size, inode.zero_point_locked()));
}

}  // namespace netfs
