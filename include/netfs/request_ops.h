// RequestOps: what a filesystem backend (the 9P client, the in-memory test backend)
// supplies to the engine, after the kernel's struct netfs_request_ops.
//
// Threading: prepare_* and issue_* are called from engine threads (a FUSE worker, the
// flusher or a WorkQueue worker) with no engine lock held. A backend completes an issued
// subrequest from any thread, exactly once per issue, by calling
// Subrequest::terminated(bytes_or_negative_errno). It must not call back into the engine
// from inside issue_*() for the same request other than through terminated(), which it may
// call synchronously before issue_*() returns.
#pragma once

#include <cstddef>
#include <cstdint>

#include "netfs/result.h"

namespace netfs {

class Inode;
class Request;
class Subrequest;

class RequestOps {
 public:
  virtual ~RequestOps() = default;

  // ---- write side (stream 0: upload to the server) ----

  // A new upload subrequest is about to be built at sreq.start(). The backend sets the
  // largest length and number of buffer segments one RPC may carry
  // (Subrequest::set_max_len / set_max_segments); the engine grows the subrequest up to
  // those limits. Called again before every retry: the backend may give new limits (a
  // reconnect may have negotiated a different msize). Default: no limits.
  virtual void prepare_write(Subrequest& sreq) {}

  // Send sreq.len() - sreq.transferred() bytes from sreq.io() to the file at
  // sreq.start() + sreq.transferred(). On completion call sreq.terminated(n) with the
  // number of bytes the server accepted (a short count is fine: the engine retries the
  // rest) or with -errno. Retryable errnos (see is_retryable) are reissued with backoff.
  virtual void issue_write(Subrequest& sreq) = 0;

  // ---- read side ----

  // Like prepare_write for reads: set max length / segments of one read RPC.
  virtual void prepare_read(Subrequest& sreq) {}

  // Fill sreq.io() with file bytes from sreq.start() + sreq.transferred(), then call
  // sreq.terminated(n) with the byte count or -errno. At the end of the file's data call
  // sreq.set_hit_eof() first: the engine zero-fills the rest. A short read without it is
  // retried from where it stopped, and a retry that moves nothing is abandoned (EIO).
  // Default: reads are not supported.
  virtual void issue_read(Subrequest& sreq);

  // ---- metadata the data path needs ----

  // Set the file's size on the server (truncate or extend). Synchronous.
  virtual Status set_size(Inode& inode, uint64_t size) = 0;
};

}  // namespace netfs
