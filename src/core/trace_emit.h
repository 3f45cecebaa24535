// trace_emit.h: the one macro that emits a trace event, as a USDT probe (provider
// "netfs", one probe per kind: rreq, sreq, folioq, folio, backend) and as a record in the Engine's
// in-memory ring. Probe arguments (six: bpftrace on x86_64 reads no more):
// arg0 = reason | stream << 8 | subrequest index << 16, arg1 = request id | folioq id << 32,
// then the file's inode number (Inode::ino(), 0 if none), position, length, value.
#pragma once

#include <sys/sdt.h>

#include "netfs/trace.h"

#define NETFS_TRACE(trace, kind, reason, ino, rreq, sreq, stream, fq, pos, len, value)            \
  do {                                                                                            \
    DTRACE_PROBE6(netfs, kind,                                                                    \
                  static_cast<uint32_t>(::netfs::TraceReason::k_##reason) |                       \
                      (static_cast<uint32_t>(stream) & 0xff) << 8 |                               \
                      (static_cast<uint32_t>(sreq) & 0xffff) << 16,                               \
                  static_cast<uint64_t>(static_cast<uint32_t>(rreq)) |                            \
                      static_cast<uint64_t>(static_cast<uint32_t>(fq)) << 32,                     \
                  static_cast<uint64_t>(ino), (pos), (len), (value));                             \
    (trace).emit(::netfs::TraceReason::k_##reason, (ino), (rreq), (sreq), (stream), (fq), (pos),  \
                 (len), (value));                                                                 \
  } while (0)
