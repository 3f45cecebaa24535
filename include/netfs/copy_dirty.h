// copy_dirty: an inode's unwritten bytes, copied out so that they can be kept somewhere
// other than the server (the FUSE layer's spool, when the daemon must exit with data it
// could not write). Threading: any thread; takes the mapping lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace netfs {

class Inode;

struct DirtyExtent {
  uint64_t pos = 0;
  std::vector<std::byte> bytes;
};

// Each run of dirty bytes (folios under write-back included) with its offset, in file
// order, adjacent runs joined, clipped to the size. Leaves the dirty state as it is.
std::vector<DirtyExtent> copy_dirty(Inode& inode);

}  // namespace netfs
