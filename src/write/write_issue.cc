// Write issuing, after the kernel's fs/netfs/write_issue.c: build a write request, walk
// dirty folios in file order, mark them under write-back, append them to the rolling
// buffer and feed each active stream (0 = upload, 1 = cache copy). A stream grows its
// current subrequest until the backend's max length or segment count, or a discontinuity,
// ends it; then the subrequest is issued and completes on the backend's own thread.
#include <algorithm>
#include <chrono>
#include <vector>

#include "core/trace_emit.h"
#include "netfs/cancel.h"
#include "netfs/cache_cookie.h"
#include "netfs/engine.h"
#include "netfs/request_ops.h"
#include "netfs/write.h"
#include "write/internal.h"

namespace netfs {
namespace write {

RequestRef create_write_request(Inode& inode, Origin origin, uint64_t start, bool offload, bool use_cache) {
  auto* wreq = new Request(inode.engine(), inode.shared_from_this(), origin, start, 0);
  wreq->collect_fn_ = collect_write_results;
  wreq->streams[0].active = true;
  cache::Cookie* cookie = inode.cookie();
  wreq->streams[1].active = use_cache && cookie && cookie->write_enabled();
  if (offload) wreq->set_flag(rreq_flag::kOffloadCollection);
  return RequestRef::adopt(wreq);
}

void prepare_subrequest(Request* wreq, Subrequest* sreq) {
  sreq->max_len_ = 0;
  sreq->max_segs_ = 0;
  if (sreq->stream_nr_ == 0)
    wreq->inode().ops().prepare_write(*sreq);
  else
    wreq->inode().cookie()->prepare_write(*sreq);
}

void issue_subrequest(Request* wreq, Subrequest* sreq) {
  Engine& e = wreq->engine_;
  sreq->io_base_.truncate(sreq->len_);
  sreq->get_ref();  // held by the backend until terminated()
  NETFS_TRACE(e.trace(), sreq, sreq_issue, wreq->ino_, wreq->debug_id_, sreq->debug_index_, sreq->stream_nr_, 0,
              sreq->start_ + sreq->transferred_, sreq->len_ - sreq->transferred_, sreq->retry_count_);
  if (sreq->stream_nr_ == 0)
    wreq->inode().ops().issue_write(*sreq);
  else
    wreq->inode().cookie()->issue_write(*sreq);
}

namespace {

// Starts a new subrequest for the stream at `start`, listed at once so that the collector
// never moves past bytes that a stream has taken but not yet issued.
Subrequest* new_subrequest(Request* wreq, Stream& stream, uint64_t start, const IoIter& at) {
  Engine& e = wreq->engine_;
  auto* sreq = new Subrequest(wreq, stream.nr, wreq->next_sreq_index_++, start);
  sreq->io_base_ = at;
  prepare_subrequest(wreq, sreq);
  // A single object goes in one piece whatever the backend's limits.
  if (wreq->test(rreq_flag::kSingle)) sreq->max_len_ = sreq->max_segs_ = 0;
  stream.sreq_max_len = sreq->max_len_ ? sreq->max_len_ : SIZE_MAX;
  stream.sreq_max_segs = sreq->max_segs_ ? sreq->max_segs_ : SIZE_MAX;
  {
    std::lock_guard lk(wreq->lock_);
    stream.subrequests.push_back(sreq);  // the list's reference is the initial one
  }
  bump(stream.nr == 0 ? e.stats().upload_subreqs : e.stats().cache_write_subreqs);
  stream.construct = sreq;
  return sreq;
}

void issue_construct(Request* wreq, Stream& stream) {
  Subrequest* sreq = stream.construct;
  stream.construct = nullptr;
  issue_subrequest(wreq, sreq);
}

}  // namespace

size_t advance_write(Request* wreq, Stream& stream, uint64_t start, size_t len, bool to_eof, const IoIter& at) {
  Subrequest* sreq = stream.construct;
  if (sreq && start != sreq->start_ + sreq->len_) {
    issue_construct(wreq, stream);  // discontiguity
    sreq = nullptr;
  }
  if (!sreq) sreq = new_subrequest(wreq, stream, start, at);
  size_t part = std::min(len, stream.sreq_max_len - sreq->len_);
  sreq->len_ += part;
  sreq->nr_segs_++;
  {
    std::lock_guard lk(wreq->lock_);
    stream.issued_to = start + part;
  }
  if (sreq->len_ >= stream.sreq_max_len || sreq->nr_segs_ >= stream.sreq_max_segs || to_eof)
    issue_construct(wreq, stream);
  return part;
}

void write_folio(Request* wreq, Folio* f, size_t from, size_t to, size_t up_from, size_t up_to, bool to_cache) {
  FolioQueue* q;
  unsigned slot;
  wreq->buffer.append(f, from, to, &q, &slot);
  Engine& e = wreq->engine_;
  NETFS_TRACE(e.trace(), folio, folio_wb_start, wreq->ino_, wreq->debug_id_, 0, 0, q->debug_id, f->pos() + from,
              to - from, 0);
  for (Stream& s : wreq->streams) {
    if (!s.active || s.failed.load(std::memory_order_relaxed)) continue;
    size_t a = from, b = to;
    if (s.nr == 0) {
      a = up_from;
      b = up_to;
    } else if (!to_cache) {
      continue;
    }
    size_t done = 0;
    while (done < b - a) {
      IoIter at = IoIter::folioq(q, slot, a - from + done, SIZE_MAX);
      done += advance_write(wreq, s, f->pos() + a + done, b - a - done, false, at);
    }
  }
}

void end_issue(Request* wreq) {
  for (Stream& s : wreq->streams)
    if (s.construct) issue_construct(wreq, s);
  wreq->set_flag(rreq_flag::kAllQueued);
  wreq->wake_collector();
}

Status wait_for_writeback(Inode& inode, uint64_t start, uint64_t end) {
  Mapping& m = inode.mapping();
  std::unique_lock lk(m.mu_);
  bool done = wait_cancellable(Cancel::current(), m.cv_, lk, [&] {
    // The whole file (fsync): the count says it, without a walk over every folio at each
    // completion's wake.
    if (m.nr_writeback_ == 0 || (start == 0 && end == UINT64_MAX)) return m.nr_writeback_ == 0;
    for (auto it = m.folios_.lower_bound(m.folio_pos(start)); it != m.folios_.end() && it->first < end; ++it)
      if (it->second->writeback) return false;
    return true;
  });
  if (!done) return make_error(EINTR, "waiting for write-back");
  return {};
}

Status flush_range(Inode& inode, uint64_t start, uint64_t end) {
  Mapping& m = inode.mapping();
  for (;;) {
    // An async write-back that fails redirties its folios after ending write-back, so
    // a folio seen clean after one pass may be dirty again: loop until it stays clean.
    NETFS_TRY(wait_for_writeback(inode, start, end));
    bool dirty = false;
    {
      std::lock_guard lk(m.mu_);
      for (auto it = m.folios_.lower_bound(std::max(m.folio_pos(start), m.dirty_from_));
           it != m.folios_.end() && it->first < end; ++it)
        if (it->second->dirty) {
          dirty = true;
          break;
        }
    }
    if (!dirty) return {};
    auto r = writepages(inode, WritebackControl{true, m.folio_pos(start), end});
    if (!r.ok()) return r.error();
  }
}

}  // namespace write

namespace {

struct Picked {
  Folio* folio;  // holds a reference
  size_t from, to, up_from, up_to;
  bool to_cache;
};

// Marks up to `max` dirty folios from *cursor on under write-back. Returns false at the
// end of the range.
bool pick_batch(Inode& inode, const WritebackControl& wbc, uint64_t* cursor, std::vector<Picked>& out,
                size_t max, uint64_t* bytes) {
  Mapping& m = inode.mapping();
  Engine& e = inode.engine();
  std::unique_lock lk(m.mu_);
  // Nothing to pick below dirty_from_. Starting at or below it, the walk may raise it
  // past every folio it leaves settled (neither dirty nor waiting for the cache), as long
  // as it has not seen one that stays so and has not let go of mu_.
  const uint64_t walk_from = m.folio_pos(*cursor);
  bool raise = walk_from <= m.dirty_from_;
  auto settled = [&](Folio* f) {
    if (raise && !f->dirty && !f->copy_to_cache)
      m.dirty_from_ = std::max(m.dirty_from_, f->pos() + f->size());
    else
      raise = false;
  };
  auto it = m.folios_.lower_bound(std::max(walk_from, m.dirty_from_));
  uint64_t walked = 0;
  while (it != m.folios_.end() && it->first < wbc.end && out.size() < max && *bytes < wbc.max_bytes) {
    Folio* f = it->second;
    walked++;
    if (f->dirty && f->locked && wbc.sync) {
      // A writer is copying into it; fsync must include what was written before, so wait.
      raise = false;
      it = m.wait_unlocked_locked(lk, f);
      continue;
    }
    ++it;
    if (!f->dirty && f->copy_to_cache && !f->locked && !f->writeback) {
      // Read from the server: copy it to the cache only (stream 1), whole.
      f->copy_to_cache = false;
      settled(f);
      cache::Cookie* cookie = inode.cookie();
      uint64_t size = inode.size_locked();
      if (!f->uptodate || !cookie || !cookie->write_enabled() || f->pos() >= size) continue;
      f->writeback = true;
      m.nr_writeback_++;
      f->get_ref();
      size_t limit = static_cast<size_t>(std::min<uint64_t>(f->size(), size - f->pos()));
      out.push_back(Picked{f, 0, limit, 0, 0, true});
      continue;
    }
    if (!f->dirty || f->locked || f->writeback || f->dirtied_at_ns > wbc.dirtied_before_ns) {
      settled(f);
      continue;
    }
    f->copy_to_cache = false;  // the cache stream copies it with the upload
    uint64_t size = inode.size_locked();
    if (f->pos() >= size) {  // beyond EOF: truncate is about to drop it
      settled(f);
      continue;
    }
    size_t limit = static_cast<size_t>(std::min<uint64_t>(f->size(), size - f->pos()));
    size_t up_from = f->dirty_from, up_to = std::min(f->dirty_to, limit);
    if (up_from >= up_to) {
      settled(f);
      continue;
    }
    f->dirty = false;
    settled(f);
    f->writeback = true;
    m.nr_writeback_++;
    f->get_ref();
    // Whole uptodate folios also go to the cache (it stores whole folios); a partial
    // (streaming) folio has bytes we never had, so it is not cached.
    bool to_cache = f->uptodate;
    size_t from = to_cache ? 0 : up_from, to = to_cache ? limit : up_to;
    out.push_back(Picked{f, from, to, up_from, up_to, to_cache});
    *bytes += up_to - up_from;
    gauge_add(e.stats().mem_writeback_bytes, static_cast<int64_t>(f->accounted));
  }
  if (raise && it == m.folios_.end()) m.dirty_from_ = UINT64_MAX;  // settled to the end
  bump(e.stats().wb_folios_walked, walked);
  *cursor = it == m.folios_.end() ? UINT64_MAX : it->first;
  return it != m.folios_.end() && it->first < wbc.end && *bytes < wbc.max_bytes;
}

}  // namespace

Result<size_t> writepages(Inode& inode, const WritebackControl& wbc) {
  std::unique_lock wb(inode.wb_lock_, std::defer_lock);
  if (wbc.sync) {
    wb.lock();
  } else if (!wb.try_lock()) {
    return size_t{0};  // another issuer is at work on this inode
  }
  RequestRef wreq;
  uint64_t cursor = wbc.start, bytes = 0;
  std::vector<Picked> batch;
  bool more = true;
  while (more) {
    batch.clear();
    // Batches bound how long the mapping lock is held while writers wait.
    more = pick_batch(inode, wbc, &cursor, batch, 256, &bytes);
    if (!batch.empty() && !wreq)
      wreq = write::create_write_request(inode, Origin::kWriteback, batch.front().folio->pos() + batch.front().from,
                                         !wbc.sync, true);
    for (Picked& p : batch) {
      write::write_folio(wreq.get(), p.folio, p.from, p.to, p.up_from, p.up_to, p.to_cache);
      p.folio->put_ref();
    }
  }
  if (!wreq) return size_t{0};
  wreq->len_ = bytes;
  write::end_issue(wreq.get());
  wb.unlock();
  if (!wbc.sync) return static_cast<size_t>(bytes);
  int64_t r = wreq->wait();
  if (r < 0) return make_error(static_cast<int>(-r), "write-back");
  return static_cast<size_t>(r);
}

Result<size_t> write_single(Inode& inode, const void* buf, size_t len) {
  std::unique_lock io(inode.io_lock_);
  RequestOps& ops = inode.ops();
  NETFS_TRY(ops.set_size(inode, 0));
  RequestRef wreq = write::create_write_request(inode, Origin::kWriteSingle, 0, false, true);
  wreq->set_flag(rreq_flag::kSingle);
  wreq->len_ = len;
  wreq->flat_buf_ = static_cast<std::byte*>(const_cast<void*>(buf));
  for (Stream& s : wreq->streams) {
    if (!s.active || len == 0) continue;
    write::advance_write(wreq.get(), s, 0, len, true, IoIter::flat(wreq->flat_buf_, SIZE_MAX));
  }
  write::end_issue(wreq.get());
  int64_t r = wreq->wait();
  if (r < 0) return make_error(static_cast<int>(-r), "write_single");
  {
    Mapping& m = inode.mapping();
    std::lock_guard lk(m.mu_);
    inode.set_size_locked(len);
    if (inode.zero_point_locked() < len) inode.set_zero_point_locked(len);
  }
  return static_cast<size_t>(r);
}

}  // namespace netfs
