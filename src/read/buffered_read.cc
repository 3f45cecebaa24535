// Buffered read, after the kernel's filemap_read + netfs_readahead / netfs_read_folio:
// copy uptodate folios out; on a miss, lock the missing folios of a readahead window and
// read them with one request whose collector unlocks them progressively, so the caller
// copies the first folio while the rest are still in flight. A sequential reader also
// starts the next window asynchronously before it runs out.
#include <algorithm>
#include <cstring>

#include "netfs/cancel.h"
#include "netfs/engine.h"
#include "netfs/read.h"
#include "read/internal.h"

namespace netfs {

namespace {

uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

// Starts reading [start, end) (folio-aligned), collected on the WorkQueue. Returns the end
// of what it took.
uint64_t start_readahead(Inode& inode, Origin origin, uint64_t start, uint64_t end) {
  RequestRef rreq = reading::create_read_request(inode, origin, start, true);
  uint64_t taken = reading::read_folios(rreq.get(), start, end, true);
  rreq->len_ = taken > start ? taken - start : 0;
  reading::end_issue(rreq.get());
  return taken;
}

// Reads one folio synchronously and returns how that went: the error a reader reports
// when someone's readahead left the folio not uptodate.
Status read_folio_sync(Inode& inode, uint64_t fpos) {
  RequestRef rreq = reading::create_read_request(inode, Origin::kReadFolio, fpos, false);
  rreq->len_ = inode.mapping().folio_size();
  reading::read_folios(rreq.get(), fpos, fpos + inode.mapping().folio_size(), true);
  reading::end_issue(rreq.get());
  int64_t r = rreq->wait();
  if (r < 0) return make_error(static_cast<int>(-r), "read");
  return {};
}

}  // namespace

Status prefetch_for_write(Inode& inode, uint64_t fpos) { return read_folio_sync(inode, fpos); }

Result<size_t> buffered_read(Inode& inode, ReadaheadState& ra, uint64_t pos, void* buf, size_t len) {
  Engine& e = inode.engine();
  Mapping& m = inode.mapping();
  const Options& o = e.options();
  const size_t fsz = m.folio_size();
  bump(e.stats().read_buffered_calls);
  const uint64_t size = inode.size();
  if (pos >= size || len == 0) return size_t{0};
  len = static_cast<size_t>(std::min<uint64_t>(len, size - pos));

  // The window: grows while the reader stays sequential, resets on a jump; never more
  // than an eighth of the memory budget, so readahead cannot evict what it just read.
  const uint64_t need = round_up(pos + len, fsz) - m.folio_pos(pos);
  // Near-sequential counts: the kernel sends FUSE readahead reads in parallel and they
  // reach us slightly out of order; only a jump of more than a window is random access.
  const uint64_t slack = std::max<uint64_t>({std::min<uint64_t>(ra.window / 4, 2 << 20), 2 * o.readahead_initial, fsz});
  const bool sequential = pos + slack >= ra.next_pos && pos <= ra.next_pos + slack;
  uint64_t window;
  if (o.readahead_max == 0) {
    window = need;
  } else if (sequential && ra.window) {
    window = std::min<uint64_t>(ra.window * 2, o.readahead_max);
  } else {
    window = std::max<uint64_t>(o.readahead_initial, need);
    if (!sequential) ra.issued_to = 0;
  }
  window = std::max<uint64_t>(need, std::min<uint64_t>(window, std::max<uint64_t>(e.memory_limit() / 8, fsz)));
  window = round_up(window, fsz);
  ra.window = window;
  ra.next_pos = sequential ? std::max(ra.next_pos, pos + len) : pos + len;

  // Asynchronous readahead: a sequential reader that gets within half a window of what has
  // been asked for asks for the next window now.
  if (o.readahead_max && sequential && ra.issued_to > pos && ra.issued_to < size &&
      ra.issued_to - std::min(ra.issued_to, pos + len) < window / 2) {
    uint64_t from = ra.issued_to;
    ra.issued_to = std::max(ra.issued_to, start_readahead(inode, Origin::kReadahead, from, from + window));
    if (ra.issued_to == from) ra.issued_to = from + window;  // all present: move on
  }

  auto* dst = static_cast<std::byte*>(buf);
  size_t done = 0;
  uint64_t issued_for = UINT64_MAX;  // the folio our own read covered last
  bool synced = false;
  while (done < len) {
    const uint64_t p = pos + done;
    const uint64_t fpos = m.folio_pos(p);
    const size_t off = static_cast<size_t>(p - fpos);
    const size_t n = std::min(fsz - off, len - done);
    {
      std::unique_lock lk(m.mu_);
      Folio* f = m.find_locked(fpos);
      if (f) {
        f->get_ref();
        // Someone is reading or writing it, or a streaming write is being written back:
        // wait rather than race.
        if (!wait_cancellable(Cancel::current(), m.cv_, lk,
                              [&] { return !f->locked && !(f->writeback && !f->uptodate); })) {
          // Interrupted: what was copied is a short read; the readahead goes on.
          lk.unlock();
          f->put_ref();
          if (done) break;
          return make_error(EINTR, "waiting for a folio");
        }
        bool gone = m.find_locked(fpos) != f;
        bool covered = f->uptodate || (f->dirty && off >= f->dirty_from && off + n <= f->dirty_to);
        if (!gone && covered) {
          std::memcpy(dst + done, f->data() + off, n);
          f->lru_tick = e.lru_tick();
          lk.unlock();
          f->put_ref();
          bump(e.stats().read_hits);
          done += n;
          continue;
        }
        lk.unlock();
        f->put_ref();
        if (gone) continue;  // evicted or invalidated while we waited: look again
      }
    }
    if (issued_for == fpos) {
      // Our read finished and the folio is still not uptodate: it failed. A synchronous
      // read of that folio says why (and may succeed if the failure was transient).
      if (synced) {
        if (!done) return make_error(EIO, "read: folio not uptodate after a successful read");
        break;
      }
      synced = true;
      if (Status st = read_folio_sync(inode, fpos); !st.ok()) {
        if (done) break;  // a short read; the next call reports the error (or EINTR)
        return st.error();
      }
      continue;
    }
    issued_for = fpos;
    synced = false;
    const uint64_t end = std::min(round_up(size, fsz), std::max(fpos + window, round_up(pos + len, fsz)));
    uint64_t taken = start_readahead(inode, o.readahead_max ? Origin::kReadahead : Origin::kReadFolio, fpos, end);
    ra.issued_to = std::max(ra.issued_to, taken);
  }
  bump(e.stats().read_buffered_bytes, done);
  return done;
}

}  // namespace netfs
