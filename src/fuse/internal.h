// Helpers shared by the files that implement Filesystem (filesystem.cc, node_state.cc,
// namespace.cc, open_close.cc, directories.cc, locks.cc, sync_spool.cc).
#pragma once

#include <cerrno>

#include "cache/coherency.h"
#include "netfs/file_attr.h"

namespace netfs::fuse {

// ---- node_state.cc

// Errors that mean "this open mode is not allowed", so a read-only fid will do.
inline bool open_denied(int e) { return e == EACCES || e == EPERM || e == EROFS || e == ETXTBSY; }

// The cache's coherency data for the server's attributes a: their change token.
inline cache::Coherency coherency_of(const FileAttr& a) {
  ChangeToken t = a.token();
  return cache::Coherency{t.version, t.mtime_sec, t.mtime_nsec, t.size};
}

// ---- everywhere

// Runs f when the scope ends, on every return path.
template <typename F>
struct OnExit {
  F f;
  ~OnExit() { f(); }
};
template <typename F>
OnExit(F) -> OnExit<F>;

}  // namespace netfs::fuse
