// The read path's entry points, after the kernel's netfs_file_read_iter,
// netfs_readahead, netfs_read_folio, netfs_unbuffered_read_iter and netfs_read_single,
// plus what the VFS supplies around them (per-open-file readahead state, invalidation).
//
// Threading: every call may be made from any thread; calls on one inode may overlap with
// each other and with writes. A ReadaheadState belongs to one open file and must not be
// used by two threads at once (FUSE serialises nothing, so the caller keeps one per
// handle and locks it, or passes a fresh one).
#pragma once

#include <cstddef>
#include <cstdint>

#include "netfs/result.h"

namespace netfs {

class Inode;

// Per-open-file readahead window, after the kernel's file_ra_state. The window starts at
// Options::readahead_initial, doubles (up to Options::readahead_max) while reads stay
// sequential, and falls back to the initial size on a random access.
struct ReadaheadState {
  uint64_t next_pos = 0;     // where a sequential reader reads next
  uint64_t window = 0;       // current readahead size in bytes (0 = not started)
  uint64_t issued_to = 0;    // end of what readahead has already asked for
};

// Buffered read: copies up to len bytes at pos from the inode's folios into buf, reading
// what is missing (with readahead). Returns the bytes copied: short only at end of file.
// Dirty bytes of a streaming-write folio win over the server's bytes.
Result<size_t> buffered_read(Inode& inode, ReadaheadState& ra, uint64_t pos, void* buf, size_t len);

// O_DIRECT: reads straight from the server into buf (dirty folios of the range are
// written back first so the server holds them). Short only at end of file.
Result<size_t> unbuffered_read(Inode& inode, uint64_t pos, void* buf, size_t len);

// Reads an object that must be read in one piece (a directory blob): one subrequest,
// never split, from the cache when the cookie holds it, else from the server. Returns
// the object's length (at most len).
Result<size_t> read_single(Inode& inode, void* buf, size_t len);

// Reads the folio at fpos from the server if it is not uptodate, keeping the dirty bytes
// a streaming write left in it: the write path calls this when a second partial write
// into such a folio does not touch the first (the kernel's netfs_prefetch_for_write).
Status prefetch_for_write(Inode& inode, uint64_t fpos);

// Drops cached (clean) data of [start, end) because the server's copy changed. Dirty and
// write-back folios are kept: our unwritten bytes are never lost to an invalidation.
// Folios being read are waited for. The kernel's netfs_invalidate_folio / truncate range.
void invalidate_range(Inode& inode, uint64_t start, uint64_t end);

// revalidate()'s `landed_seq` when the caller did not sample Inode::landed_seq() before
// its getattr.
inline constexpr uint64_t kLandedSeqUnknown = UINT64_MAX;

// The server says the file is now `size` bytes (a getattr after it changed elsewhere):
// drops clean cached data when `changed`, and adopts the size unless we hold dirty data
// beyond it.
//
// `landed_seq` is Inode::landed_seq() sampled before the getattr that gave `size`. If an
// upload of ours landed since (the count moved), the server may hold our bytes beyond
// `size`: zero_point then stays at least where it was and the size at least ours, so
// no read zero-fills or cuts off data the server holds. If nothing landed, `size` is
// trusted for both. Without a sample (kLandedSeqUnknown) the size is adopted as before
// but zero_point is never lowered (a zero_point too high costs a read; too low returns
// zeroes for data the server holds).
void revalidate(Inode& inode, uint64_t size, bool changed, uint64_t landed_seq = kLandedSeqUnknown);

}  // namespace netfs
