// Inode: one file as the engine knows it, after the kernel's netfs_inode: its folio
// cache (Mapping), its size, the backend and cache cookie that serve it, and the error
// sequence that reports write-back failures to fsync callers.
//
// Created by Engine::new_inode and shared (std::shared_ptr) between the filesystem layer
// above and the engine, which keeps a dirty inode alive until its data is written.
//
// Threading: io_lock_ is taken shared by buffered writes and exclusive by truncation and
// unbuffered writes. size_ and zero_point_ are guarded by mapping_.mu_.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include "netfs/errseq.h"
#include "netfs/mapping.h"

namespace netfs {

class Engine;
class RequestOps;
namespace cache {
class Cookie;
}

class Inode : public std::enable_shared_from_this<Inode> {
 public:
  Inode(Engine& engine, RequestOps& ops, uint64_t backend_id, uint64_t remote_size,
        cache::Cookie* cookie, uint64_t ino = 0);
  ~Inode();
  Inode(const Inode&) = delete;
  Inode& operator=(const Inode&) = delete;

  Engine& engine() const { return engine_; }
  RequestOps& ops() const { return ops_; }
  // An opaque value the backend chose (a fid, a key); the engine never interprets it.
  uint64_t backend_id() const { return backend_id_; }
  // The number the layer above knows the file by (the FUSE inode number), carried in
  // trace records so that `netfs trace` can name the file; 0: none given.
  uint64_t ino() const { return ino_; }
  cache::Cookie* cookie() const { return cookie_; }
  Mapping& mapping() { return mapping_; }
  Errseq& wb_err() { return wb_err_; }

  // The file size as the engine sees it (including buffered writes).
  uint64_t size();
  // Bytes at or beyond this offset are zero on the server and may be zero-filled in
  // memory instead of read.
  uint64_t zero_point();
  // Requires: mapping().mu_ held.
  uint64_t size_locked() const { return size_; }
  void set_size_locked(uint64_t s) { size_ = s; }
  uint64_t zero_point_locked() const { return zero_point_; }
  void set_zero_point_locked(uint64_t z) { zero_point_ = z; }

  // How many times an upload of ours has landed on the server (the write collector bumps
  // it, under mapping().mu_, when it raises zero_point for bytes that landed). A caller
  // that passes a getattr's size to revalidate() samples this before the getattr, so that
  // revalidate can tell whether our own write-back may have grown the server's file after
  // the server answered (then the size it was given is stale and must not lower
  // zero_point below our data). Any thread; no lock needed.
  uint64_t landed_seq() const { return landed_seq_.load(std::memory_order_acquire); }
  // Requires: mapping().mu_ held (so that revalidate sees the count and the raised
  // zero_point together).
  void note_landed_locked() { landed_seq_.fetch_add(1, std::memory_order_acq_rel); }

  // Dirty bytes held for this inode (for umount reports and stats).
  uint64_t dirty_bytes();

  // ---- engine state ----
  std::shared_mutex io_lock_;
  std::mutex wb_lock_;            // one write-back issuer at a time per inode
  bool on_dirty_list_ = false;    // guarded by Engine's accounting lock
  bool on_copy_list_ = false;     // guarded by Engine's accounting lock
  // An episode of lasting refusals (Engine::note_writeback_result), guarded by Engine's
  // accounting lock: the errno (0: none), refusals in a row, when to try again.
  int refused_error_ = 0;
  unsigned refusals_ = 0;
  uint64_t retry_after_ns_ = 0;

 private:
  Engine& engine_;
  RequestOps& ops_;
  const uint64_t backend_id_;
  const uint64_t ino_;
  cache::Cookie* const cookie_;
  Mapping mapping_;
  Errseq wb_err_;
  uint64_t size_;
  uint64_t zero_point_;
  std::atomic<uint64_t> landed_seq_{0};
};

}  // namespace netfs
