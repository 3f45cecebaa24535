// Coherency: what the server said about a file when the cache last agreed with it
// (qid.version, mtime, size). A cookie whose stored coherency differs from the server's
// at open holds data of another version of the file and is emptied.
//
// Threading: a plain value.
#pragma once

#include <cstdint>

namespace netfs::cache {

struct Coherency {
  uint64_t version = 0;
  uint64_t mtime_sec = 0;
  uint64_t mtime_nsec = 0;
  uint64_t size = 0;
  friend bool operator==(const Coherency&, const Coherency&) = default;
};

}  // namespace netfs::cache
