// CacheKey: the 256-bit key of an encrypted cache (`-o cache_key=FILE`), and its file: 64
// hex digits and a newline, made by `netfs cache --new-key FILE` from the system's random
// source with mode 0600. A key file that group or others may read or write is refused: a
// key anyone on the machine can read protects nothing. The key's bytes are never logged
// or printed; messages name the file only.
//
// Threading: plain values and functions.
#pragma once

#include <cstdint>
#include <string>

#include "netfs/result.h"

namespace netfs::cache {

struct CacheKey {
  uint8_t bytes[32] = {};
  CacheKey() = default;
  CacheKey(const CacheKey& o);
  CacheKey& operator=(const CacheKey& o);
  ~CacheKey();  // wipes the bytes
};

// Reads a key file. EPERM when group or others have any access to it or another user
// owns it, ELOOP when the path is a symbolic link, EINVAL when it is not a regular file
// of 64 hex digits.
Result<CacheKey> read_cache_key(const std::string& path);
// Writes a fresh random key to a new file (mode 0600, synced); EEXIST when it exists: a
// key is never overwritten, the cache it opens would be lost with it.
Status write_new_cache_key(const std::string& path);

}  // namespace netfs::cache
