// Node: one file or directory the kernel knows by a FUSE inode number, after the
// kernel's v9fs inode: the server's identity of it (qid), a walked fid for metadata and
// as the base of lookups, the kernel's lookup count, and, for a regular file once it is
// opened, the open I/O fid and the engine Inode that buffers its data.
//
// Fid rules: `fid` is never opened (9P forbids walking from an open fid). diod remembers
// a path per fid, so after a rename the old fid may name nothing: every lookup that finds
// an existing node hands it the fresh fid (swap_fid), under fid_mu exclusive, while users
// of the fid hold fid_mu shared for the length of one RPC.
// Both fids may be given back while the node is unused (FidPool, `-o max_fids`): the
// walked one is walked again along `names` by the next FidRef, the I/O fid (with the
// engine Inode) is opened again by the next open.
//
// A regular file we created (Filesystem::create) has no walked fid at first: `fid` is
// then its open I/O fid (fid_is_io), which can answer getattr, setattr, xattrs and link
// (diod answers them through the open file, so they also survive a rename). That saves
// the create a Twalk and the forget a Tclunk. Such a fid is never walked from (only
// directories are) and never clunked as `fid`; the first lookup that finds the node, or a
// rename above it, hands it a walked fid as for any other node (swap_fid).
//
// Names: the node remembers the paths it was found under (`names`, most recent first; a
// file with hard links has several). `fid` was walked along one of them; when that name
// stops leading to the file (unlinked or renamed over, here or on the server; the client
// marks such fids stale) or the fid was closed to bound the server's fids, FidRef walks a
// fresh one from the root along the names in turn and keeps the first that reaches the
// same qid.path (FidPool::restore). A name that leads nowhere or to another file is
// dropped. So a remaining hard link answers for the file whichever name went away.
//
// Threading: qid, ino and type are fixed. nlookup is guarded by the InodeTable's lock.
// io_mu guards io_fid, inode, cookie, io_writable, open_count, seen, attr and
// the listing_* fields of a directory.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "cache/store_cookie.h"
#include "fuse/lock_table.h"
#include "netfs/file_attr.h"
#include "netfs/inode.h"
#include "netfs/read.h"
#include "p9/fid_table.h"
#include "p9/protocol.h"

namespace netfs::fuse {

class FidPool;

struct Node : std::enable_shared_from_this<Node> {
  uint64_t ino = 0;
  p9::Qid qid;
  bool is_dir() const { return qid.type & p9::qid_type::kDir; }

  std::shared_mutex fid_mu;
  uint32_t fid = p9::kNoFid;  // kNoFid: none held now; FidRef walks one along `names`
  bool fid_is_io = false;  // fid is io_fid (see above): the I/O side clunks it
  // The paths from the export root this file was found under, most recent first, at most
  // FidPool::kMaxNames (fid_mu).
  std::vector<p9::Path> names;
  // Restores `fid` (set before the node is visible; null: the fid is never replaced, the
  // root's and tests' nodes).
  FidPool* pool = nullptr;
  // The node's place in FidPool's least-recently-used list (FidPool's lock).
  std::list<std::weak_ptr<Node>>::iterator lru_pos;
  bool in_lru = false;

  uint64_t nlookup = 0;  // InodeTable's lock

  std::mutex io_mu;
  uint32_t io_fid = p9::kNoFid;
  bool io_writable = false;
  std::shared_ptr<Inode> inode;  // the engine's view of the file's data
  // The file's data in the local cache (with -o cache_dir); the Inode points at it, so it
  // lives at least as long as the Inode is in use (Filesystem::release_cookie).
  std::shared_ptr<cache::StoreCookie> cookie;
  unsigned open_count = 0;
  // We unlinked the file's last name while it held dirty data: nobody can read that data
  // any more, so it is dropped when the file is neither open nor known to the kernel.
  std::atomic<bool> deleted{false};
  // The pool closed the I/O fid (FidPool): the next open counts as a reopen (io_mu).
  bool io_evicted = false;
  // The server's change token when we last agreed with it, for close-to-open checks.
  bool seen_valid = false;
  ChangeToken seen;

  // Bumped by every change of ours to the file (a write, a truncate, a setattr) and by
  // every record of seen (record_seen_locked): an attribute fetch that started before
  // it may not become the record.
  std::atomic<uint64_t> change_gen{0};
  // close() of a file we wrote asks the server for its attributes without waiting
  // (Filesystem::flush_data); the reply lands here, on the 9P client's I/O thread, and the
  // next open adopts it as seen if change_gen has not moved since the fetch was sent.
  // While one is in flight the next open compares with the older record, as if ours were
  // unknown: at worst it drops clean cached data. flush_rec_mu is never held across an
  // RPC or with io_mu taken after it (the I/O thread must never wait for io_mu, which is
  // held across RPCs).
  std::mutex flush_rec_mu;
  bool flush_rec_ready = false;
  uint64_t flush_rec_gen = 0;
  FileAttr flush_rec;

  // The last attributes the server gave for this node, when, and the namespace
  // generation then (io_mu): readdirplus hands them out while they are younger than
  // attr_timeout, as the kernel would, unless we changed something since (a write clears
  // attr_valid; a namespace change moves Filesystem::ns_gen_).
  FileAttr attr;
  std::chrono::steady_clock::time_point attr_at{};
  uint64_t attr_gen = 0;
  std::atomic<bool> attr_valid{false};

  // Directories: lookups, getattrs and getxattrs of its entries since it was last
  // listed. Many of them after a listing is `ls -l` (a lookup and two getxattrs per
  // entry); the next listing then fetches the entries' attributes for readdirplus
  // (Filesystem::opendir). A plain `ls` or `find` asks for no entry's attributes.
  std::atomic<uint64_t> child_lookups{0};
  // The directory we last found this node in (0: none), for the count above.
  std::atomic<uint64_t> parent_ino{0};

  // Directories, with -o cache_dir: the object holding the cached listing (Filesystem::
  // opendir), and a generation bumped by each namespace change we make in the directory,
  // so that a listing read before a change is never stored after it (io_mu).
  std::shared_ptr<cache::StoreCookie> listing;
  uint64_t listing_gen = 0;
  bool listing_may_hold = false;  // the object may hold a listing: a change must empty it
  bool listing_absent = false;    // no object on disk and listing unset (looked once)

  // POSIX record locks of every local owner on this file (io_mu guards the pointer; the
  // table locks itself), made at the first lock request, dropped with the last open file.
  std::shared_ptr<LockTable> posix_locks;
  // The fid the mount's whole-file server lock for those locks is taken on: walked and
  // opened at the first server lock, clunked with the last open file. Only the table's
  // server calls use it (one at a time per table); atomic for the release that clunks it.
  std::atomic<uint32_t> posix_lock_fid{p9::kNoFid};
  // posix_lock_fid is the I/O fid (Filesystem::open_lock_fid's last resort): unlocked,
  // not clunked, at the last release. Set before posix_lock_fid.
  std::atomic<bool> posix_lock_borrowed{false};
};

// Holds fid_mu shared: the fid stays valid (not swapped and clunked) while this lives.
// A node whose fid is gone or stale gets a fresh one first (FidPool::restore); when no
// name of it leads to the file any more, fid() is kNoFid and status() says why (ENOENT),
// and an RPC on it fails.
class FidRef {
 public:
  explicit FidRef(Node& n);  // fid_pool.cc
  // Only takes the fid as it is: never restores it (status() EAGAIN when it is dead), so
  // it may be taken while another node's FidRef is held (FidPair).
  FidRef(Node& n, std::try_to_lock_t);
  uint32_t fid() const { return fid_; }
  Status status() const { return err_ ? Status(*err_) : ok_status(); }

 private:
  std::shared_lock<std::shared_mutex> lk_;
  uint32_t fid_ = p9::kNoFid;
  std::optional<Error> err_;
};

// The fids of two nodes held at once (link, rename). A restore takes its node's fid_mu
// exclusively, so none may run while another node's fid is held: one directory as both
// ends would wait on itself, two renames in opposite directions on each other. The
// second fid is taken as it is; if it is dead, both are let go, it is restored alone,
// and the pair is taken again. One node as both ends is held once.
class FidPair {
 public:
  FidPair(Node& a, Node& b);  // fid_pool.cc
  uint32_t first() const { return first_->fid(); }
  uint32_t second() const { return second_ ? second_->fid() : first_->fid(); }
  Status status() const;

 private:
  std::optional<FidRef> first_, second_;
  std::optional<Error> err_;
};

}  // namespace netfs::fuse
