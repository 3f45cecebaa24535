// Trace: events with debug IDs for the lifespan of requests, subrequests and folio
// queues, after the kernel's include/trace/events/netfs.h. Each event is emitted as a
// USDT probe (provider "netfs", probe named for its kind, see tools/netfs.bt) and stored
// in an in-memory ring that `netfs trace` dumps.
//
// Reasons are one sorted X-macro list with short fixed-width labels.
//
// Threading: emit() may be called from any thread. The ring is guarded by one mutex:
// events are per request, subrequest or folio (never per byte), so the lock is cheap, and
// readers get whole records.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace netfs {

// X(name, kind, label): kind is one of rreq, sreq, folioq, folio, backend. A backend's
// events are about its connection to the server, not a request (ino, rreq, sreq 0): lost
// (value: errno), up again (value: reconnects so far), handles it could not get back after
// a reconnect (len: how many), a cancel sent for a call, a call that timed out.
#define NETFS_TRACE_REASONS(X)                  \
  X(backend_flush, backend, "B   CANCEL")       \
  X(backend_lost, backend, "B   LOST ")         \
  X(backend_stale, backend, "B   STALE")        \
  X(backend_timeout, backend, "B   TMOUT")      \
  X(backend_up, backend, "B   UP   ")           \
  X(fq_alloc, folioq, "FQ  ALLOC")              \
  X(fq_free, folioq, "FQ  FREE ")               \
  X(folio_redirty, folio, "F   REDRTY")         \
  X(folio_wb_end, folio, "F   WB-END")          \
  X(folio_wb_start, folio, "F   WB-STA")        \
  X(folio_read_done, folio, "F   RD-DONE")      \
  X(rreq_alloc, rreq, "R   ALLOC")              \
  X(rreq_collect, rreq, "R   COLLECT")          \
  X(rreq_done, rreq, "R   DONE ")               \
  X(rreq_free, rreq, "R   FREE ")               \
  X(rreq_retry, rreq, "R   RETRY")              \
  X(rreq_wait, rreq, "R   WAIT ")               \
  X(sreq_abandon, sreq, "S   ABNDN")            \
  X(sreq_alloc, sreq, "S   ALLOC")              \
  X(sreq_done, sreq, "S   DONE ")               \
  X(sreq_fail, sreq, "S   FAIL ")               \
  X(sreq_free, sreq, "S   FREE ")               \
  X(sreq_issue, sreq, "S   ISSUE")              \
  X(sreq_retry, sreq, "S   RETRY")              \
  X(sreq_short, sreq, "S   SHORT")              \
  X(sreq_split, sreq, "S   SPLIT")

enum class TraceReason : uint8_t {
#define NETFS_TRACE_ENUM(name, kind, label) k_##name,
  NETFS_TRACE_REASONS(NETFS_TRACE_ENUM)
#undef NETFS_TRACE_ENUM
};

const char* trace_label(TraceReason r);

struct TraceRecord {
  uint64_t seq;      // 0 = empty
  uint64_t time_ns;  // steady clock
  TraceReason reason;
  uint8_t stream;
  uint16_t sreq;     // subrequest debug index
  uint32_t rreq;     // request debug id
  uint32_t folioq;   // folio queue debug id
  uint64_t ino;      // the file (Inode::ino()); 0: none, as for connection events
  uint64_t pos;
  uint64_t len;
  int64_t value;     // transferred, errno, ...
  std::string format() const;
};

class Trace {
 public:
  explicit Trace(size_t entries);
  void emit(TraceReason reason, uint64_t ino, uint32_t rreq, uint16_t sreq, uint8_t stream, uint32_t folioq,
            uint64_t pos, uint64_t len, int64_t value);
  // Records with seq > after, oldest first.
  std::vector<TraceRecord> snapshot(uint64_t after = 0) const;
  uint64_t last_seq() const;

 private:
  mutable std::mutex mu_;
  std::vector<TraceRecord> ring_;
  size_t mask_;
  uint64_t next_ = 0;
};

}  // namespace netfs
