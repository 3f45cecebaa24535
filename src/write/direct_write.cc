// Unbuffered (O_DIRECT) write, after the kernel's fs/netfs/direct_write.c: the caller's
// buffer goes to the server in subrequests without passing through folios. Cached folios
// of the range are written back first (they may hold older dirty bytes that must not land
// after ours) and dropped afterwards (they are stale).
#include <algorithm>
#include <vector>

#include "netfs/cache_cookie.h"
#include "netfs/engine.h"
#include "netfs/write.h"
#include "write/internal.h"

namespace netfs {

Result<size_t> unbuffered_write(Inode& inode, uint64_t pos, const void* buf, size_t len) {
  Engine& e = inode.engine();
  Mapping& m = inode.mapping();
  std::unique_lock io(inode.io_lock_);
  if (len == 0) return size_t{0};
  const uint64_t end = pos + len;
  NETFS_TRY(write::flush_range(inode, pos, end));
  // The cache copy of this range would be stale; the cache stream is not used here.
  if (cache::Cookie* c = inode.cookie(); c && c->write_enabled()) {
    c->invalidate();
    bump(e.stats().cache_invalidations);
  }

  RequestRef wreq = write::create_write_request(inode, Origin::kUnbufferedWrite, pos, false, false);
  wreq->len_ = len;
  wreq->flat_buf_ = static_cast<std::byte*>(const_cast<void*>(buf));
  Stream& s = wreq->streams[0];
  size_t done = 0;
  while (done < len)
    done += write::advance_write(wreq.get(), s, pos + done, len - done, false,
                                 IoIter::flat(wreq->flat_buf_ + done, SIZE_MAX));
  write::end_issue(wreq.get());
  const int64_t r = wreq->wait();
  // A permanent failure part-way through: the bytes before the first failed range have
  // landed (the request completes only when every subrequest before it succeeded), and
  // subrequests after it may have landed too (they run in parallel). As POSIX write():
  // the contiguous prefix is a short write; an error only when none of it landed.
  size_t written = r >= 0 ? static_cast<size_t>(r) : 0;
  if (r < 0) {
    uint64_t first_failed = wreq->failed_ranges_.empty() ? pos : end;  // empty: cannot say, claim nothing
    for (const auto& [a, b] : wreq->failed_ranges_) first_failed = std::min(first_failed, a);
    written = static_cast<size_t>(first_failed - pos);
  }
  // Whatever landed, even past a failure, is on the server now: the size, zero_point and
  // cached folios must agree with that, or the server's file is longer than ours and a
  // read of it is cut short, zero-filled or served stale.
  const uint64_t landed_end = std::max(pos + written, wreq->landed_to_);
  if (landed_end <= pos) return make_error(static_cast<int>(-r), "unbuffered write");

  std::vector<Folio*> drop;
  {
    std::unique_lock lk(m.mu_);
    if (landed_end > inode.size_locked()) inode.set_size_locked(landed_end);
    // The server now holds data up to here: it is no longer zero beyond the old point.
    if (landed_end > inode.zero_point_locked()) inode.set_zero_point_locked(landed_end);
    for (auto it = m.folios_.lower_bound(m.folio_pos(pos)); it != m.folios_.end() && it->first < end;) {
      Folio* f = it->second;
      if (f->locked) {
        // A readahead (which takes no io_lock) may have read the old bytes: wait for it,
        // then look again (the checks below drop what it read).
        it = m.wait_unlocked_locked(lk, f);
        continue;
      }
      ++it;
      if (f->dirty || f->writeback) continue;
      if (f->extra_refs() != 0) {
        f->uptodate = false;  // a waiter holds it: it will read the new bytes
        continue;
      }
      m.folios_.erase(f->pos());
      drop.push_back(f);
    }
  }
  gauge_add(e.stats().objs_folios, -static_cast<int64_t>(drop.size()));
  gauge_add(e.stats().mem_resident_bytes, -static_cast<int64_t>(drop.size() * m.folio_size()));
  for (Folio* f : drop) f->put_ref();
  if (written == 0) return make_error(static_cast<int>(-r), "unbuffered write");
  return written;
}

}  // namespace netfs
