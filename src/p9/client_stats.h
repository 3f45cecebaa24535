// ClientStats: the 9P client's counters, relaxed atomics in the style of netfs::Stats,
// kept in the p9 layer: the engine's Stats names no protocol.
//
// Threading: any thread bumps; readers see a momentary snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "netfs/metrics.h"

namespace netfs::p9 {

// X(name, help): every counter, in print order; `netfs stats` prints each as p9.name
// in every format (include/netfs/metrics.h), so a counter added here is in all of them.
#define NETFS_P9_CLIENT_COUNTERS(X) \
  X(rpcs, "calls completed with a reply (including Rlerror)") \
  X(bytes_sent, "bytes sent to the server") \
  X(bytes_received, "bytes received from the server") \
  X(errors, "replies that were Rlerror, except a walk to a missing name") \
  X(negative_lookups, "walks answered ENOENT: a name that does not exist, not an error") \
  X(protocol_errors, "malformed replies (EPROTO)") \
  X(timeouts, "calls failed with ETIMEDOUT") \
  X(unreachable_fails, "calls failed at once (ETIMEDOUT): server unreachable") \
  X(cancels, "calls cancelled by their caller") \
  X(flushes, "Tflush sent") \
  X(disconnects, "connections lost") \
  X(reconnects, "sessions re-established after a loss") \
  X(reconnect_failures, "reconnect attempts that failed (then backed off)") \
  X(connect_failures, "of them: the TCP/Unix connect failed (refused, timed out)") \
  X(setup_failures, "of them: connected, but Tversion/Tattach/fid rebuild failed") \
  X(lost_closed, "connections the server closed or reset") \
  X(lost_protocol, "connections dropped: a reply made the stream untrustworthy") \
  X(lost_silent, "connections dropped: neither a call nor its Tflush answered") \
  X(short_sessions, "sessions lost before they proved good: backoff kept growing") \
  X(resent, "calls sent again on a new connection") \
  X(failed_on_disconnect, "sent kFail calls completed with ECONNRESET") \
  X(fids_rebuilt, "fids walked again after reconnects") \
  X(fids_stale, "fids that could not be rebuilt") \
  X(locks_reacquired, "POSIX locks taken again after reconnects") \
  X(reads_direct, "call_read payloads read from the socket into their destination") \
  X(reads_copied, "call_read payloads that arrived whole in the receive buffer") \
  X(read_bytes_discarded, "payload of call_reads completed before it all arrived") \
  X(sync_rpcs, "calls a caller blocked on (call_sync): its round trips") \
  X(clunks_unanswered, "Tclunks that timed out: their fid numbers stay retired") \
  X(create_spares_used, "creates on a pre-cloned directory fid (no clone walk waited for)") \
  X(create_spares_missed, "creates that cloned synchronously: no spare was ready")

struct ClientStats {
#define NETFS_P9_DECLARE(name, help) std::atomic<uint64_t> name{0};
  NETFS_P9_CLIENT_COUNTERS(NETFS_P9_DECLARE)
#undef NETFS_P9_DECLARE

  void bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  // Appends every counter as group "p9" (include/netfs/metrics.h).
  void collect(Metrics& m) const {
#define NETFS_P9_COLLECT(name, help) m.push_back({"p9", #name, false, help, name.load(std::memory_order_relaxed)});
    NETFS_P9_CLIENT_COUNTERS(NETFS_P9_COLLECT)
#undef NETFS_P9_COLLECT
  }
  // "p9.rpcs=12 p9.bytes_sent=..." on one line (for test failure messages).
  std::string format() const {
    Metrics m;
    collect(m);
    std::string s;
    for (const auto& e : m) s += (s.empty() ? "p9." : " p9.") + e.field + "=" + std::to_string(e.value);
    return s;
  }
};

}  // namespace netfs::p9
