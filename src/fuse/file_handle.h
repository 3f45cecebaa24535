// FileHandle and DirHandle: what a FUSE open() / opendir() returns (as fi->fh), after the
// kernel's struct file: the node, how it was opened, its readahead window and its
// cursor into the inode's write-back error sequence (so each open file learns of a
// write-back failure once, at fsync or close). A directory handle holds the listing
// taken at opendir, so readdir offsets stay stable while the directory changes.
//
// Threading: ra is used under ra_mu (FUSE may run two reads of one handle at once).
// wb_cursor under cursor_mu. The rest is fixed after open.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "fuse/node.h"
#include "netfs/errseq.h"
#include "netfs/read.h"
#include "p9/protocol.h"

namespace netfs::fuse {

struct FileHandle {
  std::shared_ptr<Node> node;
  std::shared_ptr<Inode> inode;  // the same as node->inode, pinned for the handle's life
  int flags = 0;                 // open(2) flags
  bool direct = false;           // O_DIRECT or -o direct_io: unbuffered engine calls
  bool wrote = false;            // a write went through this handle (close must flush)
  std::mutex ra_mu;
  ReadaheadState ra;
  std::mutex cursor_mu;
  Errseq::Cursor wb_cursor = 0;
  // POSIX lock owners that took a lock through this open file and have not closed it
  // since (a FUSE flush with their owner): at release their locks go. That covers OFD
  // locks (owned by the open file, whose close sends no flush of that owner) and a flush
  // that never came; a process that closed and locked again through another open file
  // keeps its new locks.
  std::mutex lock_owners_mu;
  std::vector<uint64_t> lock_owners;
  // flock(2): a fid of its own, opened at the first flock, whose server-side lock is this
  // open file's (diod turns Tlock into flock(2) on the fid's file descriptor, so two
  // open files here conflict on the server as two anywhere else would). Clunked at
  // release, which drops the lock.
  std::mutex flock_mu;
  uint32_t flock_fid = p9::kNoFid;
  bool flock_borrowed = false;  // flock_fid is the node's I/O fid: unlocked at release, not clunked
  uint64_t flock_owner = 0;     // the owner of the last flock (what release unlocks)
};

struct DirHandle {
  std::shared_ptr<Node> node;
  std::vector<p9::Dirent> entries;  // readdir offset n = entries[n-1]'s successor
  // readdirplus fetches the attributes of entries it does not know (Filesystem::opendir).
  bool fetch_attrs = false;
};

}  // namespace netfs::fuse
