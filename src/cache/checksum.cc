#include "cache/checksum.h"

#include <xxhash.h>

namespace netfs::cache {

uint64_t checksum(const void* data, size_t len, uint64_t seed) { return XXH3_64bits_withSeed(data, len, seed); }

}  // namespace netfs::cache
