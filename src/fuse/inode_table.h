// InodeTable: FUSE inode numbers to Nodes, after libfuse's passthrough_ll inode map and
// the kernel's icache. Numbers are ours (1 is the root); a file the server names with
// the same qid.path is the same Node (hard links, repeated lookups), so the kernel sees
// one inode per server file. Each lookup reply counts once in nlookup; forget subtracts;
// at zero the node leaves the table unless its data is still dirty (then it stays, so
// that a later lookup, `netfs umount` and the flusher still find it).
//
// Threading: every method is thread-safe (one mutex, taken before no other lock).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "fuse/fid_pool.h"
#include "fuse/node.h"

namespace netfs::fuse {

class InodeTable {
 public:
  static constexpr uint64_t kRootIno = 1;

  // pool: given to every new node, which also records its first name there (may be null).
  explicit InodeTable(std::shared_ptr<Node> root, FidPool* pool = nullptr);

  std::shared_ptr<Node> get(uint64_t ino) const;
  // The node for qid, with nlookup raised by one. New: it takes `fid` (*used = true).
  // Existing: the caller must swap its fid in or clunk it (*used = false). fid_is_io: the
  // fid is an open I/O fid (Node::fid_is_io), set before the node can be seen.
  std::shared_ptr<Node> add_lookup(const p9::Qid& qid, uint32_t fid, bool* used, bool fid_is_io = false);
  // The node of qid (same kind), with nlookup raised by one; null when unknown.
  std::shared_ptr<Node> ref_by_qid(const p9::Qid& qid);
  // Lowers nlookup by n. Returns the node when it reached zero and left the table (the
  // caller then clunks its fids), else null. Nodes with dirty data are kept.
  std::shared_ptr<Node> forget(uint64_t ino, uint64_t n);
  // Drops a node the kernel forgot that was kept while open or dirty, once it is
  // neither (called at release). Returns it when it left the table (the caller retires
  // it), else null.
  std::shared_ptr<Node> prune(const std::shared_ptr<Node>& n);
  std::vector<std::shared_ptr<Node>> all() const;
  size_t size() const;
  // The kernel holds no reference to n (kept in the table for its dirty data).
  bool unreferenced(const Node& n) const;

 private:
  // ref_by_qid with mu_ held.
  std::shared_ptr<Node> ref_by_qid_locked(const p9::Qid& qid);
  FidPool* const pool_;
  mutable std::mutex mu_;
  uint64_t next_ino_ = kRootIno + 1;
  std::unordered_map<uint64_t, std::shared_ptr<Node>> by_ino_;
  std::unordered_map<uint64_t, uint64_t> by_qid_;  // qid.path -> ino
};

}  // namespace netfs::fuse
