// internal.h: the write layer's cross-file functions, under a heading per file.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "netfs/folio.h"
#include "netfs/inode.h"
#include "netfs/request.h"
#include "netfs/result.h"

namespace netfs::write {

inline uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// ---- write_issue.cc ----
// A new write request with stream 0 (upload) active, and stream 1 (cache) when the
// inode's cookie takes writes and `use_cache`. The caller owns one reference.
RequestRef create_write_request(Inode& inode, Origin origin, uint64_t start, bool offload, bool use_cache);
// Appends folio bytes [from, to) to the request's buffer and feeds every active stream:
// stream 0 gets [up_from, up_to) (the dirty part), stream 1 the whole range when
// `to_cache`.
void write_folio(Request* wreq, Folio* f, size_t from, size_t to, size_t up_from, size_t up_to, bool to_cache);
// Grows the stream's current subrequest by up to len bytes at start, issuing it when it
// reaches the backend's limits, on a discontinuity or at to_eof. Returns bytes taken.
size_t advance_write(Request* wreq, Stream& stream, uint64_t start, size_t len, bool to_eof, const IoIter& at);
// Issues whatever is still being built and marks the request fully queued.
void end_issue(Request* wreq);
// Prepares (RequestOps::prepare_write or the cookie's) and issues a subrequest.
void prepare_subrequest(Request* wreq, Subrequest* sreq);
void issue_subrequest(Request* wreq, Subrequest* sreq);
// Waits for every folio of the inode in [start, end) to finish write-back; EINTR when the
// calling thread's Cancel is requested first.
Status wait_for_writeback(Inode& inode, uint64_t start, uint64_t end);
// Writes back and waits until no folio in [start, end) is dirty or under write-back, or
// a write-back fails (its error is returned; the data stays dirty).
Status flush_range(Inode& inode, uint64_t start, uint64_t end);

// ---- write_collect.cc ----
void collect_write_results(Request* wreq);

// ---- write_retry.cc ----
// Reissues every subrequest marked kNeedRetry, re-preparing each (the backend may give
// new limits) and splitting it when the rest no longer fits. Iterative.
void retry_writes(Request* wreq);

}  // namespace netfs::write
