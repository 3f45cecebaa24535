// trace_emit.h: the one macro that emits a trace event, as a USDT probe (provider
// "netfs", one probe per kind: rreq, sreq, folioq, folio) and as a record in the Engine's
// in-memory ring. Arguments: reason, request id, subrequest index, stream, folioq id,
// position, length, value.
#pragma once

#include <sys/sdt.h>

#include "netfs/trace.h"

#define NETFS_TRACE(trace, kind, reason, rreq, sreq, stream, fq, pos, len, value)                 \
  do {                                                                                            \
    DTRACE_PROBE7(netfs, kind, static_cast<int>(::netfs::TraceReason::k_##reason), (rreq), (sreq), \
                  (fq), (pos), (len), (value));                                                   \
    (trace).emit(::netfs::TraceReason::k_##reason, (rreq), (sreq), (stream), (fq), (pos), (len),  \
                 (value));                                                                        \
  } while (0)
