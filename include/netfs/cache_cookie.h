// cache::Cookie: one file's handle on the local persistent cache, after the kernel's
// fscache cookie. The write path drives stream 1 (copy to cache) through it; the local
// cache issue implements it on disk, tests use an in-memory fake.
//
// Threading: like RequestOps: prepare_write/issue_write are called from engine threads;
// completion is Subrequest::terminated() from any thread, exactly once per issue. A cache
// write that fails is never retried: the engine invalidates the cookie instead, so the
// write-back itself never fails because of the cache.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netfs {

class Subrequest;

namespace cache {

class Cookie {
 public:
  virtual ~Cookie() = default;

  // Whether stream 1 should copy written data into the cache now.
  virtual bool write_enabled() const = 0;
  // Granule that cache writes must be aligned to; partial (streaming) folios are only
  // written when they are uptodate. Default: any.
  virtual void prepare_write(Subrequest& sreq) {}
  // Store sreq.io() at sreq.start() + sreq.transferred(); complete with terminated().
  virtual void issue_write(Subrequest& sreq) = 0;
  // Forget everything cached for this file (a cache write failed, or the server copy
  // changed). Must be safe to call while writes are in flight: those then fail or are
  // discarded.
  virtual void invalidate() = 0;
  // Our own write or a truncate is about to change [start, start + len) of the file: the
  // cached bytes there go (the engine may never copy the new bytes to the cache, as for a
  // streaming write). Called by the filesystem layer, not the engine.
  virtual void drop_range(uint64_t start, uint64_t len) = 0;

  // ---- read side ----
  // How many bytes from `start` (at most len) the cache holds, contiguously. The read
  // path sends those to the cache and the rest to the server. Default: none.
  virtual uint64_t present(uint64_t start, uint64_t len) { return 0; }
  // The read path fetches [start, start + len) from the server, the cache not holding it:
  // called once per server subrequest, so that a cache counts each missed byte once
  // (present() is asked again for every remainder of a range, and cannot). Default: nothing.
  virtual void missed(uint64_t start, uint64_t len) {}
  // Fill sreq.io() from the cache at sreq.start() + sreq.transferred(); complete with
  // terminated(). A failure makes the engine re-read those bytes from the server.
  virtual void issue_read(Subrequest& sreq);
};

}  // namespace cache
}  // namespace netfs
