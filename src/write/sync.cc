// fsync and truncation: what the kernel's VFS and mm do around netfs, rebuilt here.
//
// fsync follows the kernel's filemap_write_and_wait + errseq: every error that happened
// since the caller last looked is reported once to each caller, and nothing that failed
// is dropped (it stays dirty for the next attempt).
#include <algorithm>
#include <cstring>
#include <vector>

#include "netfs/cancel.h"
#include "netfs/engine.h"
#include "netfs/request_ops.h"
#include "netfs/write.h"
#include "write/internal.h"

namespace netfs {

namespace {

// Takes the folios at and beyond `from` out of the page cache unwritten (truncate, and
// discard from 0), waiting for any that a reader holds or write-back carries; the folio
// straddling `from` keeps its head and reads as zero past it. `under_lock` runs before
// the mapping's lock is let go. Returns the dirty bytes dropped.
template <typename F>
uint64_t drop_folios_from(Inode& inode, uint64_t from, F&& under_lock) {
  Engine& e = inode.engine();
  Mapping& m = inode.mapping();
  std::vector<Folio*> drop;
  int64_t undirtied = 0;
  {
    std::unique_lock lk(m.mu_);
    for (auto it = m.folios_.lower_bound(m.folio_pos(from)); it != m.folios_.end();) {
      Folio* f = it->second;
      if (f->locked || f->writeback) {
        // A reader holds it, or the flusher picked it before the size was lowered.
        f->get_ref();
        m.cv_.wait(lk, [&] { return !f->locked && !f->writeback; });
        uint64_t pos = f->pos();
        f->put_ref();
        it = m.folios_.lower_bound(pos);
        continue;
      }
      ++it;
      if (f->pos() >= from) {
        undirtied += static_cast<int64_t>(f->accounted);
        m.dirty_bytes_ -= f->accounted;
        f->accounted = 0;
        f->dirty = false;
        m.folios_.erase(f->pos());
        drop.push_back(f);
        continue;
      }
      size_t keep = static_cast<size_t>(from - f->pos());
      std::memset(f->data() + keep, 0, f->size() - keep);
      if (f->dirty) {
        f->dirty_to = std::min(f->dirty_to, keep);
        size_t now = f->dirty_to > f->dirty_from ? f->dirty_to - f->dirty_from : 0;
        undirtied += static_cast<int64_t>(f->accounted - now);
        m.dirty_bytes_ -= f->accounted - now;
        f->accounted = now;
        if (now == 0) f->dirty = false;
      }
    }
    under_lock();
    if (undirtied) e.account_dirty(inode, -undirtied);
  }
  m.cv_.notify_all();
  gauge_add(e.stats().objs_folios, -static_cast<int64_t>(drop.size()));
  gauge_add(e.stats().mem_resident_bytes, -static_cast<int64_t>(drop.size() * m.folio_size()));
  for (Folio* f : drop) f->put_ref();
  return static_cast<uint64_t>(undirtied);
}

}  // namespace

Status fsync(Inode& inode, Errseq::Cursor& since) {
  // Write-back already in flight must finish first so that its errors are recorded
  // before we look; then write what is dirty now and wait for that too.
  NETFS_TRY(write::wait_for_writeback(inode, 0, UINT64_MAX));
  auto r = writepages(inode, WritebackControl{true});
  // Interrupted (the caller got a signal): the errseq is not looked at, so an error that
  // the write-back we stopped waiting for records later is this cursor's next fsync's.
  if (!r.ok() && r.errnum() == EINTR && Cancel::current_requested()) return r.error();
  NETFS_TRY(write::wait_for_writeback(inode, 0, UINT64_MAX));
  if (int err = inode.wb_err().check_and_advance(since)) return make_error(err, "write-back failed");
  if (!r.ok()) return r.error();
  return {};
}

Status truncate(Inode& inode, uint64_t new_size) {
  Engine& e = inode.engine();
  Mapping& m = inode.mapping();
  std::unique_lock io(inode.io_lock_);
  uint64_t old;
  {
    std::lock_guard lk(m.mu_);
    old = inode.size_locked();
    if (new_size < old) inode.set_size_locked(new_size);  // write-back clamps to it from now on
  }
  if (new_size >= old) {
    NETFS_TRY(inode.ops().set_size(inode, new_size));
    std::lock_guard lk(m.mu_);
    inode.set_size_locked(new_size);
    return {};
  }
  // Write-back that picked bytes beyond the new size before we lowered it must land
  // before the server cuts the file, or it would extend the file again.
  Status st = write::wait_for_writeback(inode, m.folio_pos(new_size), UINT64_MAX);
  if (st.ok()) st = inode.ops().set_size(inode, new_size);
  if (!st.ok()) {
    std::lock_guard lk(m.mu_);
    inode.set_size_locked(old);
    return st;
  }
  drop_folios_from(inode, new_size, [&] {
    if (inode.zero_point_locked() > new_size) inode.set_zero_point_locked(new_size);
  });
  e.maybe_clean(inode);
  return {};
}

uint64_t discard(Inode& inode) {
  Engine& e = inode.engine();
  std::unique_lock io(inode.io_lock_);
  uint64_t undirtied = drop_folios_from(inode, 0, [] {});
  bump(e.stats().wb_discarded_bytes, undirtied);
  e.end_refusals(inode);
  e.maybe_clean(inode);
  return undirtied;
}

}  // namespace netfs
