// Unbuffered (O_DIRECT) read and read_single, after the kernel's direct_read.c and
// netfs_read_single: the bytes go straight into the caller's buffer in subrequests.
//
// An unbuffered read does not write dirty folios back first (the read layer sits beside
// the write layer, not above it); it lays our dirty bytes (as they were when the read
// started) over what the server returned instead, which gives the caller the same bytes
// without forcing write-back.
#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "netfs/cache_cookie.h"
#include "netfs/engine.h"
#include "netfs/read.h"
#include "read/internal.h"

namespace netfs {

Result<size_t> unbuffered_read(Inode& inode, uint64_t pos, void* buf, size_t len) {
  Mapping& m = inode.mapping();
  const uint64_t size = inode.size();
  if (pos >= size || len == 0) return size_t{0};
  len = static_cast<size_t>(std::min<uint64_t>(len, size - pos));
  auto* dst = static_cast<std::byte*>(buf);

  // Our bytes the server may not have yet: dirty ranges, kept through write-back. Taken
  // before the server read, because a write-back in flight may land after the read has
  // passed it and be clean by the time the read returns.
  std::vector<std::pair<uint64_t, std::vector<std::byte>>> ours;
  {
    std::unique_lock lk(m.mu_);
    auto it = m.folios_.lower_bound(m.folio_pos(pos));
    while (it != m.folios_.end() && it->first < pos + len) {
      Folio* f = it->second;
      if (f->locked) {
        // A read into a streaming-write folio overwrites its dirty bytes until it puts
        // them back at unlock, or a writer is mid-copy: wait, then look again.
        it = m.wait_unlocked_locked(lk, f);
        continue;
      }
      ++it;
      if (!f->dirty && !f->writeback) continue;
      uint64_t a = std::max(pos, f->pos() + f->dirty_from), b = std::min(pos + len, f->pos() + f->dirty_to);
      if (a < b) ours.emplace_back(a, std::vector<std::byte>(f->data() + (a - f->pos()), f->data() + (b - f->pos())));
    }
  }

  RequestRef rreq = reading::create_read_request(inode, Origin::kUnbufferedRead, pos, false);
  rreq->len_ = len;
  rreq->flat_buf_ = dst;
  reading::issue_range(rreq.get(), pos, len, IoIter::flat(dst, len));
  reading::end_issue(rreq.get());
  int64_t r = rreq->wait();
  if (r < 0) return make_error(static_cast<int>(-r), "unbuffered read");
  // Past the server's end of data but inside the file as we know it (our own unwritten
  // extension): zeroes, then our dirty bytes.
  size_t got = static_cast<size_t>(r);
  if (got < len) std::memset(dst + got, 0, len - got);
  for (auto& [a, bytes] : ours) std::memcpy(dst + (a - pos), bytes.data(), bytes.size());
  return len;
}

Result<size_t> read_single(Inode& inode, void* buf, size_t len) {
  const uint64_t size = std::min<uint64_t>(inode.size(), len);
  if (size == 0) return size_t{0};
  auto* dst = static_cast<std::byte*>(buf);
  RequestRef rreq = reading::create_read_request(inode, Origin::kReadSingle, 0, false);
  rreq->set_flag(rreq_flag::kSingle);
  rreq->len_ = size;
  rreq->flat_buf_ = dst;
  reading::issue_range(rreq.get(), 0, size, IoIter::flat(dst, static_cast<size_t>(size)));
  reading::end_issue(rreq.get());
  int64_t r = rreq->wait();
  if (r < 0) return make_error(static_cast<int>(-r), "read_single");
  return static_cast<size_t>(r);
}

}  // namespace netfs
