// Checksums of the cache's on-disk data: one per granule (verified on every read, so a
// granule torn by a crash or corrupted on disk is never returned) and one per content-map
// record (so a torn map record reads as "absent"). xxHash (XXH3, 64 bits) from Debian's
// libxxhash: fast enough to verify every cache read at memory speed.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netfs::cache {

uint64_t checksum(const void* data, size_t len, uint64_t seed = 0);

}  // namespace netfs::cache
