// The client's per-call record and helpers shared by client.cc (calls, tags, the I/O
// thread) and client_reconnect.cc (losing and re-establishing the connection). Private
// to src/p9.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <vector>

#include "core/trace_emit.h"
#include "p9/client.h"

// A connection event (a backend_* reason) in ClientOptions::trace, when there is one.
#define P9_TRACE_CONN(reason, len, value)                                                     \
  do {                                                                                        \
    if (opts_.trace) NETFS_TRACE(*opts_.trace, backend, reason, 0, 0, 0, 0, 0, 0, (len), (value)); \
  } while (0)

namespace netfs::p9 {

using Clock = std::chrono::steady_clock;

struct Client::Call {
  enum class St : uint8_t { kWaiting, kQueued, kWriting, kSent };
  uint64_t id = 0;
  Bytes msg;                     // the whole message, or its header when payload is set
  std::vector<iovec> payload;    // borrowed data sent after msg (invariant 6)
  bool into = false;             // call_read: the Rread data goes to dest (invariant 7)
  std::vector<iovec> dest;
  size_t dest_len = 0;
  size_t size = 0;               // msg + payload bytes
  uint8_t expect = 0;
  Replay replay = Replay::kResend;
  Completion done;
  Clock::time_point deadline;
  uint64_t attempts_seen = 0;    // reconnect attempts begun when it was submitted
  St st = St::kWaiting;
  uint16_t tag = kNoTag;
  bool is_flush = false;
  uint16_t oldtag = kNoTag;  // flush calls: the tag being flushed
  bool abandoned = false;    // completed early; the tag awaits Rflush (invariant 2)
  bool finished = false;     // invariant 1
};

inline SessionConfig session_config(const ClientOptions& o) {
  SessionConfig c;
  c.msize = o.msize;
  c.uname = o.uname;
  c.aname = o.aname;
  c.n_uname = o.n_uname;
  c.auth = o.auth;
  c.timeout = o.connect_timeout;
  return c;
}

}  // namespace netfs::p9
