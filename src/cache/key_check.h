// The key check record of an encrypted cache directory (DIR/keycheck): a known text sealed
// with the directory's key. At start-up it tells a directory written with this key from
// one written with another key or with none, so that such content is dropped (or the
// mount refused) instead of failing one granule at a time, and never misread.
//
// Threading: plain functions; the Store calls them under its directory lock.
#pragma once

#include <cstdint>
#include <string>

#include "cache/cipher.h"
#include "netfs/result.h"

namespace netfs::cache {

enum class KeyCheck { kAbsent, kMatch, kMismatch };

inline constexpr const char* kKeyCheckFile = "/keycheck";

// Whether DIR's record was sealed with this cipher's key and for this granule size
// (kAbsent: no record). The granule is bound because DIR/granule itself is not sealed:
// a changed one reads as a mismatch (content dropped), never as maps misparsed.
KeyCheck read_key_check(const std::string& dir, const Cipher& c, uint32_t granule);
// Writes DIR's record for this key (complete and durable before it replaces another).
Status write_key_check(const std::string& dir, const Cipher& c, uint32_t granule);

}  // namespace netfs::cache
