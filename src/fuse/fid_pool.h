// FidPool: the fids of the FUSE layer's nodes as a bounded cache over their names. A
// node's fid is only a handle on one of the paths it was found under (diod names fids
// by path): when that path stops leading to the file, or the fid was given back, restore
// walks a fresh one from the export root along the node's names in turn, keeping the
// first that reaches the same file (same qid.path). The walk is the client's own
// (Namespace::walk from the root, recorded in its FidTable like every fid, so a
// reconnect rebuilds it as any other).
//
// The bound: every server fid is a server resource (diod: an open file descriptor for
// an open fid), and the kernel keeps inodes of every file it has seen. Nodes are kept in
// least-recently-used order (touch: a FidRef, a new node); trim() gives back the fids
// of the least recently used nodes (the release callback: their walked fid, and their
// I/O fid when no file is open and nothing is dirty or in flight) while the client holds
// more than max_fids. A node in use (its locks held, a file open) is skipped and moves
// to the front. So the count can pass the bound only by fids in use.
//
// Threading: thread-safe. restore takes the node's fid_mu exclusively and holds it
// across its walks; callers hold no fid_mu of that node. The list's lock is a leaf.
// trim() must be called with no node lock held (release try-locks them).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>

#include "fuse/node.h"
#include "netfs/result.h"
#include "p9/client.h"
#include "p9/namespace_ops.h"

namespace netfs::fuse {

class FidPool {
 public:
  // Names a node remembers at most: a file with more hard links than this answers
  // through the most recently used ones.
  static constexpr size_t kMaxNames = 8;

  // Gives back what a node holds; true when it holds no fid any more, false when it is
  // busy (some of its locks are held, a file of it is open). Must not block.
  using Release = std::function<bool(Node&)>;
  FidPool(p9::Namespace& ns, p9::Client& client, size_t max_fids = SIZE_MAX, Release release = nullptr)
      : ns_(ns), client_(client), max_(max_fids), release_(std::move(release)) {}
  FidPool(const FidPool&) = delete;
  FidPool& operator=(const FidPool&) = delete;

  // Is fid no longer usable as a node's fid (the client marked it stale: its name went)?
  bool dead(uint32_t fid) const { return fid == p9::kNoFid || client_.fids().is_stale(fid); }
  // Requires n.fid_mu held exclusively: n.fid is now `fid`; its path (from the client's
  // FidTable) becomes n's most recent name.
  void note_name_locked(Node& n, uint32_t fid);
  // Gives n a usable fid if its fid is still `seen` (else another thread did already).
  // ENOENT when no name of n leads to its file any more (n then holds no fid).
  Status restore(Node& n, uint32_t seen);
  // The name dir/name no longer leads to the file it led to (we unlinked it, or renamed
  // another file over it: keep is that file's qid.path): nodes walked there must not
  // answer through it.
  void name_gone(uint32_t dir, std::string_view name, uint64_t keep = UINT64_MAX);
  // A directory moved from `from` to `to`: names of n below it move too.
  static void rename_names(Node& n, const p9::Path& from, const p9::Path& to);

  // n was used, or got a fid: it goes to the front of the list.
  void touch(Node& n);
  // n leaves the table (retired): out of the list.
  void forget(Node& n);
  // Gives back fids of the least recently used nodes while the client holds more than
  // max_fids (each node at most once per call). Returns at once if another thread trims.
  void trim();

  size_t max_fids() const { return max_; }
  size_t held() const { return client_.fids().size(); }  // server fids of the whole client
  void count_closed(uint64_t n) { closed_.fetch_add(n, std::memory_order_relaxed); }
  void count_reopened() { reopened_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t closed() const { return closed_.load(std::memory_order_relaxed); }
  // Fids walked or opened again after the pool closed them or their name went.
  uint64_t reopened() const { return reopened_.load(std::memory_order_relaxed); }

 private:
  p9::Namespace& ns_;
  p9::Client& client_;
  const size_t max_;
  const Release release_;
  std::atomic<uint64_t> closed_{0};
  std::atomic<uint64_t> reopened_{0};
  std::mutex trim_mu_;  // one trimmer at a time
  std::mutex mu_;       // lru_ and every Node::lru_pos / in_lru
  std::list<std::weak_ptr<Node>> lru_;  // most recently used first
};

}  // namespace netfs::fuse
