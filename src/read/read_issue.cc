// Read issuing, after the kernel's fs/netfs/buffered_read.c (netfs_readahead,
// netfs_read_folio) and read_collect.c's counterpart on the issue side: lock the folios
// to read, append them to the request's rolling buffer, and slice the range into
// subrequests, each with a source: the local cache where the cookie holds the bytes, the
// server, or zero-fill where the server is known to hold nothing (past zero_point).
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/trace_emit.h"
#include "netfs/cache_cookie.h"
#include "netfs/engine.h"
#include "netfs/request_ops.h"
#include "read/internal.h"

namespace netfs::reading {

RequestRef create_read_request(Inode& inode, Origin origin, uint64_t start, bool offload) {
  auto* rreq = new Request(inode.engine(), inode.shared_from_this(), origin, start, 0);
  rreq->collect_fn_ = collect_read_results;
  rreq->streams[0].active = true;
  if (offload) rreq->set_flag(rreq_flag::kOffloadCollection);
  return RequestRef::adopt(rreq);
}

void prepare_subrequest(Request* rreq, Subrequest* sreq) {
  sreq->max_len_ = 0;
  sreq->max_segs_ = 0;
  if (sreq->source_ == Source::kServer) rreq->inode().ops().prepare_read(*sreq);
  if (rreq->test(rreq_flag::kSingle)) sreq->max_len_ = sreq->max_segs_ = 0;
}

void issue_subrequest(Request* rreq, Subrequest* sreq) {
  Engine& e = rreq->engine_;
  sreq->io_base_.truncate(sreq->len_);
  sreq->get_ref();  // held by the source until terminated()
  NETFS_TRACE(e.trace(), sreq, sreq_issue, rreq->ino_, rreq->debug_id_, sreq->debug_index_, 0, 0,
              sreq->start_ + sreq->transferred_, sreq->len_ - sreq->transferred_,
              static_cast<int64_t>(sreq->source_));
  switch (sreq->source_) {
    case Source::kZeroFill: {
      size_t n = sreq->len_ - sreq->transferred_;
      sreq->io().zero(n);
      bump(e.stats().read_zero_filled);
      sreq->terminated(static_cast<int64_t>(n));
      break;
    }
    case Source::kCache:
      rreq->inode().cookie()->issue_read(*sreq);
      break;
    default:
      rreq->inode().ops().issue_read(*sreq);
      break;
  }
}

namespace {

// Bytes from `at` that `max_segs` segments cover (all of `want` when unlimited).
size_t fit_segments(const IoIter& at, size_t want, size_t max_segs) {
  if (!max_segs) return want;
  IoIter it = at;
  it.truncate(want);
  std::vector<iovec> segs;
  size_t n = it.segments(segs, max_segs);
  return n ? n : want;
}

}  // namespace

void issue_range(Request* rreq, uint64_t start, uint64_t len, IoIter at) {
  Engine& e = rreq->engine_;
  Inode& inode = rreq->inode();
  Stream& s = rreq->streams[0];
  cache::Cookie* cookie = inode.cookie();
  const uint64_t end = start + len;
  const uint64_t zp = inode.zero_point();
  uint64_t pos = start;
  while (pos < end) {
    Source src;
    uint64_t run;
    if (pos >= zp) {
      src = Source::kZeroFill;
      run = end - pos;
    } else if (uint64_t c = cookie ? cookie->present(pos, std::min(end, zp) - pos) : 0) {
      src = Source::kCache;
      run = c;
    } else {
      src = Source::kServer;
      run = std::min(end, zp) - pos;
    }
    auto* sreq = new Subrequest(rreq, 0, rreq->next_sreq_index_++, pos);
    sreq->source_ = src;
    sreq->io_base_ = at;
    prepare_subrequest(rreq, sreq);
    size_t n = static_cast<size_t>(std::min<uint64_t>(run, sreq->max_len_ ? sreq->max_len_ : run));
    n = fit_segments(at, n, sreq->max_segs_);
    sreq->len_ = n;
    {
      std::lock_guard lk(rreq->lock_);
      s.subrequests.push_back(sreq);  // the list's reference is the initial one
      s.issued_to = pos + n;
    }
    if (src == Source::kServer) {
      bump(e.stats().download_subreqs);
      if (cookie) cookie->missed(pos, n);
    }
    if (src == Source::kCache) bump(e.stats().cache_read_subreqs);
    // Step past it before issuing: once issued it may complete and be collected at once,
    // and the collector may free the segment `at` points into.
    at.advance(n);
    issue_subrequest(rreq, sreq);
    pos += n;
  }
}

void end_issue(Request* rreq) {
  rreq->set_flag(rreq_flag::kAllQueued);
  rreq->wake_collector();
}

uint64_t read_folios(Request* rreq, uint64_t start, uint64_t end, bool stop_at_busy) {
  Engine& e = rreq->engine_;
  Inode& inode = rreq->inode();
  Mapping& m = inode.mapping();
  const size_t fsz = m.folio_size();
  start = m.folio_pos(start);
  e.reclaim(end > start ? end - start : 0);

  uint64_t taken_end = start;
  uint64_t run_start = 0, run_len = 0;
  IoIter run_at;
  auto flush_run = [&] {
    if (run_len) issue_range(rreq, run_start, run_len, run_at);
    run_len = 0;
  };
  for (uint64_t pos = start; pos < end; pos += fsz) {
    Folio* f;
    bool take = false;
    {
      std::lock_guard lk(m.mu_);
      if (pos >= inode.size_locked()) break;
      bool created = false;
      f = m.find_or_create_locked(pos, &created);
      if (created) {
        gauge_add(e.stats().objs_folios, 1);
        gauge_add(e.stats().mem_resident_bytes, static_cast<int64_t>(fsz));
      }
      if (!f->uptodate && !f->locked && !f->writeback) {
        take = true;
        f->locked = true;
        f->get_ref();
        if (f->dirty) {
          // A streaming write: keep its bytes to lay back over what the server sends.
          // Under the request's lock: an offloaded collector may be reading the list.
          std::vector<std::byte> keep(f->data() + f->dirty_from, f->data() + f->dirty_to);
          std::lock_guard rl(rreq->lock_);
          rreq->saved_dirty_.emplace_back(pos, std::move(keep));
        }
      }
    }
    if (!take) {
      flush_run();
      if (stop_at_busy) break;
      continue;
    }
    bump(e.stats().read_misses);
    FolioQueue* q;
    unsigned slot;
    rreq->buffer.append(f, 0, fsz, &q, &slot);
    f->put_ref();  // the buffer holds its own reference now
    if (!run_len) {
      run_start = pos;
      run_at = IoIter::folioq(q, slot, 0, SIZE_MAX);
    }
    run_len += fsz;
    taken_end = pos + fsz;
  }
  flush_run();
  return taken_end;
}

}  // namespace netfs::reading
