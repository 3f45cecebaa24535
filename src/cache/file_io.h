// file_io.h: whole-buffer pread/pwrite for the cache's data and map files (retrying
// short transfers and EINTR), shared so the two files' writers cannot drift apart.
//
// Threading: pure functions.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "netfs/result.h"

namespace netfs::cache {

// Writes all n bytes at off; `what` names the operation in the error.
inline Status pwrite_all(int fd, const void* buf, size_t n, uint64_t off, const char* what) {
  auto* p = static_cast<const char*>(buf);
  while (n) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return make_error(errno, what);
    }
    p += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
  }
  return ok_status();
}

// Reads all n bytes at off; ENODATA when the file ends first.
inline Status pread_all(int fd, void* buf, size_t n, uint64_t off, const char* what) {
  auto* p = static_cast<char*>(buf);
  while (n) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return make_error(errno, what);
    }
    if (r == 0) return make_error(ENODATA, "cache data file shorter than its map");
    p += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return ok_status();
}

}  // namespace netfs::cache
