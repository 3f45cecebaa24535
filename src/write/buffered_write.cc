// Buffered write, after the kernel's fs/netfs/buffered_write.c: copy the caller's bytes
// into folios of the inode's Mapping and mark them dirty; write-back happens later
// (flusher, fsync) or at once in write-through mode.
//
// A write that covers only part of a folio whose other bytes we do not have does not read
// them from the server: the folio records a dirty byte range instead ("streaming write").
// A later write into the same folio that is not contiguous with that range would need two
// ranges; the folio is written back first (a "flush conflict"), as the kernel does.
// Folios at or beyond the inode's zero point hold nothing the server has, so they are
// zero-filled and become uptodate instead.
#include <algorithm>
#include <cstring>

#include "netfs/cancel.h"
#include "netfs/engine.h"
#include "netfs/read.h"
#include "netfs/write.h"
#include "write/internal.h"

namespace netfs {

namespace {

// Waits for room under the dirty limit, starting write-back if nobody else will.
Status throttle(Inode& inode) {
  Engine& e = inode.engine();
  const uint64_t limit = e.options().dirty_limit;
  if (e.dirty_bytes() <= limit) return {};
  bump(e.stats().write_throttled);
  uint64_t gen = e.writeback_error_gen();
  for (;;) {
    if (e.has_flusher()) {
      e.kick_flusher();
    } else {
      for (auto& di : e.dirty_inodes()) (void)writepages(*di, WritebackControl{});
    }
    // Wake now and then to start write-back again: the pass we started may have found
    // the inode busy (another issuer) or skipped folios a reader held.
    int err = e.wait_for_dirty_room(limit, gen, std::chrono::milliseconds(20));
    if (err == 0) return {};
    if (err == EINTR && Cancel::current_requested()) return make_error(EINTR, "throttled at the dirty limit");
    if (err > 0) return make_error(err, "write-back failing while over the dirty limit");
  }
}

}  // namespace

Result<size_t> perform_write(Inode& inode, uint64_t pos, const void* buf, size_t len, WriteMode mode) {
  Engine& e = inode.engine();
  Mapping& m = inode.mapping();
  const size_t fsz = m.folio_size();
  NETFS_TRY(throttle(inode));
  bump(e.stats().write_buffered_calls);
  e.reclaim(len + fsz);  // room for the folios this write may create

  std::shared_lock io(inode.io_lock_);
  RequestRef wt;
  if (mode == WriteMode::kWriteThrough)
    wt = write::create_write_request(inode, Origin::kWritethrough, pos, false, true);

  const auto* src = static_cast<const std::byte*>(buf);
  size_t done = 0;
  Status status;
  while (done < len) {
    const uint64_t p = pos + done;
    const uint64_t fpos = m.folio_pos(p);
    const size_t off = static_cast<size_t>(p - fpos);
    const size_t n = std::min(fsz - off, len - done);
    Folio* f;
    bool zero_fill = false, conflict = false;
    {
      std::unique_lock lk(m.mu_);
      bool created;
      f = m.find_or_create_locked(fpos, &created);
      if (created) {
        gauge_add(e.stats().objs_folios, 1);
        gauge_add(e.stats().mem_resident_bytes, static_cast<int64_t>(fsz));
      }
      f->get_ref();
      if (!wait_cancellable(Cancel::current(), m.cv_, lk, [&] { return !f->locked && !f->writeback; })) {
        // Interrupted: a folio we created stays, empty and clean, like one evicted later.
        lk.unlock();
        f->put_ref();
        status = make_error(EINTR, "waiting for a folio");
        break;
      }
      const bool whole = off == 0 && n == fsz;
      if (!f->uptodate && !whole) {
        // Only a new folio may be zero-filled: an old one may hold bytes the server has.
        if (created && fpos >= inode.zero_point_locked()) {
          zero_fill = true;
        } else if (f->dirty && (off > f->dirty_to || off + n < f->dirty_from)) {
          conflict = true;
        }
      }
      if (!conflict) f->locked = true;
    }
    if (conflict) {
      // A second partial write that does not touch the folio's dirty range: fill the
      // rest of the folio from the server (keeping the dirty bytes) so one range covers
      // both. That costs one read per folio, where writing the folio back first would
      // cost a synchronous write-back for every such write (random 4 KiB writes).
      bump(e.stats().write_flush_conflict);
      f->put_ref();
      if (prefetch_for_write(inode, fpos).ok()) continue;
      // The server could not be read: write the range back instead, then try again.
      auto r = writepages(inode, WritebackControl{true, fpos, fpos + fsz});
      if (!r.ok()) {
        status = r.error();
        break;
      }
      continue;
    }
    if (zero_fill) {
      std::memset(f->data(), 0, off);
      std::memset(f->data() + off + n, 0, fsz - off - n);
    }
    std::memcpy(f->data() + off, src + done, n);
    bool to_writethrough = false;
    size_t up_from = 0, up_to = 0, limit = 0;
    {
      std::lock_guard lk(m.mu_);
      if (zero_fill || (off == 0 && n == fsz)) f->uptodate = true;
      size_t from = off, to = off + n;
      if (f->dirty) {
        from = std::min(from, f->dirty_from);
        to = std::max(to, f->dirty_to);
      } else {
        f->dirty = true;
        f->dirtied_at_ns = write::now_ns();
        m.note_dirty_locked(f->pos());
      }
      f->dirty_from = from;
      f->dirty_to = to;
      int64_t delta = static_cast<int64_t>(to - from) - static_cast<int64_t>(f->accounted);
      f->accounted = to - from;
      m.dirty_bytes_ += delta;
      e.account_dirty(inode, delta);
      if (p + n > inode.size_locked()) inode.set_size_locked(p + n);
      f->locked = false;
      if (wt) {
        // Write-through: straight from dirty to write-back, under the same lock.
        f->dirty = false;
        f->writeback = true;
        m.nr_writeback_++;
        gauge_add(e.stats().mem_writeback_bytes, static_cast<int64_t>(f->accounted));
        to_writethrough = true;
        up_from = from;
        up_to = to;
        limit = f->uptodate ? static_cast<size_t>(std::min<uint64_t>(fsz, inode.size_locked() - fpos)) : 0;
      }
    }
    m.cv_.notify_all();
    if (to_writethrough) {
      bool cache = limit != 0;
      write::write_folio(wt.get(), f, cache ? 0 : up_from, cache ? limit : up_to, up_from, up_to, cache);
    }
    f->put_ref();
    done += n;
  }
  bump(e.stats().write_buffered_bytes, done);

  if (wt) {
    wt->len_ = done;
    write::end_issue(wt.get());
    int64_t r = wt->wait();
    // Interrupted: the bytes are in the folios and under write-back; should the upload
    // fail they are dirty again, so they are written, as a buffered write's are.
    if (r == -EINTR && Cancel::current_requested() && done) return done;
    if (r < 0) return make_error(static_cast<int>(-r), "write-through");
  }
  if (!status.ok() && done == 0) return status.error();
  return done;
}

}  // namespace netfs
