// Directory listings as single objects in the local cache (docs/cache.md, "Directory
// listings"): the whole listing of a directory (every entry's name, qid, DT_* type and
// readdir offset) is serialised into one blob and stored in a cache object of its own,
// keyed by the directory's qid.path, with the directory's (qid.version, mtime, size) as
// the object's coherency data. An opendir of an unchanged directory (also after a
// remount) then costs one getattr and a read of the blob instead of a walk, an open,
// Treaddirs and a clunk.
//
// The blob: a 32-byte header (magic, entry count, payload length, XXH3 of the payload),
// then per entry qid.type[1] qid.version[4] qid.path[8] offset[8] type[1] name_len[2]
// name, little-endian. The payload checksum makes a blob pieced together from granules
// of two different writes (or cut short by eviction) read as absent, on top of the
// store's per-granule checksums.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "netfs/result.h"
#include "p9/protocol.h"

namespace netfs::fuse {

inline constexpr size_t kListingHeader = 32;

struct ListingHeader {
  uint64_t entries = 0;
  uint64_t payload_len = 0;
  uint64_t payload_hash = 0;
};

// Header followed by payload: the whole object.
std::vector<std::byte> encode_listing(const std::vector<p9::Dirent>& entries);
// EINVAL: not a listing header (wrong magic, absurd length).
Result<ListingHeader> decode_listing_header(const std::byte* p, size_t n);
// EINVAL: the payload does not match the header (checksum, count, truncated record).
Result<std::vector<p9::Dirent>> decode_listing_payload(const ListingHeader& h, const std::byte* p, size_t n);

}  // namespace netfs::fuse
