// retry.h: the pieces of the retry policy that the read and write sides share, so that
// the two cannot drift apart: the backoff schedule, fitting a subrequest's rest to the
// limits its source gave, and the failed-range test the collectors apply to folios.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "netfs/options.h"
#include "netfs/request.h"
#include "netfs/stats.h"

namespace netfs::retry {

// Wait before a retry whose subrequest has been retried `retry_count` times:
// retry_backoff * 2^retry_count, capped at retry_backoff_max; zero when backoff is off.
std::chrono::nanoseconds backoff(const Options& o, unsigned retry_count);

// How many of the `rest` bytes still to move fit the subrequest's max length and
// segment count (the whole rest if the source set no limit, or allowed nothing).
size_t fit(const Subrequest& sreq, size_t rest);

// Reissue preparation for one subrequest marked kNeedRetry, shared by read and write
// retry: counts the retry, re-prepares it with `prepare` (the source may give new
// limits), and when the rest no longer fits splits it, listing the new pieces right after
// it so the stream stays in file order (each piece counted in `pieces`). Appends what is
// to be issued to `to_issue`; the caller issues only after every piece is listed.
void reissue(Request* rreq, Stream& s, Subrequest* sreq, void (*prepare)(Request*, Subrequest*),
             Counter& retries, Counter& pieces, std::vector<Subrequest*>& to_issue);

// Whether [a, b) overlaps any of the ranges.
bool overlaps(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint64_t a, uint64_t b);

}  // namespace netfs::retry
