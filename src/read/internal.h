// internal.h: the read layer's cross-file functions, under a heading per file. The read
// side mirrors the write side (src/write/internal.h) so that a fix to one carries over.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "netfs/folio.h"
#include "netfs/inode.h"
#include "netfs/request.h"
#include "netfs/result.h"

namespace netfs::reading {

// ---- read_issue.cc ----
// A new read request (stream 0 is the one source stream). The caller owns one reference.
RequestRef create_read_request(Inode& inode, Origin origin, uint64_t start, bool offload);
// Locks (or creates locked) the folios of [start, end) that are not uptodate, appends
// them to the request's buffer and issues subrequests for each contiguous run. Stops at
// a folio that is under write-back or locked by someone else when `stop_at_busy`;
// otherwise skips it. Returns the end of what was taken (== start when nothing was).
uint64_t read_folios(Request* rreq, uint64_t start, uint64_t end, bool stop_at_busy);
// Slices [start, start + len) of the request into subrequests by source (cache, server,
// zero-fill past the server's data) and the backend's limits, and issues them. `at`
// names the bytes at `start`.
void issue_range(Request* rreq, uint64_t start, uint64_t len, IoIter at);
// Marks the request fully queued and wakes its collector.
void end_issue(Request* rreq);
// (Re)prepares and issues one subrequest from its source.
void prepare_subrequest(Request* rreq, Subrequest* sreq);
void issue_subrequest(Request* rreq, Subrequest* sreq);

// ---- read_collect.cc ----
void collect_read_results(Request* rreq);

// ---- read_retry.cc ----
// Reissues every subrequest marked kNeedRetry (re-prepared, split if its rest no longer
// fits). Iterative; called by the collector only.
void retry_reads(Request* rreq);

}  // namespace netfs::reading
