#include "fuse/inode_table.h"

namespace netfs::fuse {

namespace {

bool has_dirty(Node& n) {
  std::lock_guard lk(n.io_mu);
  return n.inode && n.inode->dirty_bytes() > 0;
}

}  // namespace

InodeTable::InodeTable(std::shared_ptr<Node> root, FidPool* pool) : pool_(pool) {
  root->ino = kRootIno;
  root->nlookup = 1;  // the kernel never forgets the root
  by_qid_[root->qid.path] = kRootIno;
  by_ino_[kRootIno] = std::move(root);
}

std::shared_ptr<Node> InodeTable::get(uint64_t ino) const {
  std::lock_guard lk(mu_);
  auto it = by_ino_.find(ino);
  return it == by_ino_.end() ? nullptr : it->second;
}

std::shared_ptr<Node> InodeTable::add_lookup(const p9::Qid& qid, uint32_t fid, bool* used, bool fid_is_io) {
  std::lock_guard lk(mu_);
  if (auto known = ref_by_qid_locked(qid)) {
    *used = false;
    return known;
  }
  auto n = std::make_shared<Node>();
  n->ino = next_ino_++;
  n->qid = qid;
  n->fid = fid;
  n->fid_is_io = fid_is_io;
  n->pool = pool_;
  if (pool_) pool_->note_name_locked(*n, fid);  // not visible yet: no lock needed
  n->nlookup = 1;
  by_ino_[n->ino] = n;
  by_qid_[qid.path] = n->ino;
  *used = true;
  return n;
}

std::shared_ptr<Node> InodeTable::ref_by_qid(const p9::Qid& qid) {
  std::lock_guard lk(mu_);
  return ref_by_qid_locked(qid);
}

std::shared_ptr<Node> InodeTable::ref_by_qid_locked(const p9::Qid& qid) {
  auto q = by_qid_.find(qid.path);
  if (q == by_qid_.end()) return nullptr;
  auto& n = by_ino_.at(q->second);
  // Same number, different kind: the server reused an inode number for a new file.
  if ((n->qid.type & p9::qid_type::kDir) != (qid.type & p9::qid_type::kDir)) return nullptr;
  n->nlookup++;
  return n;
}

std::shared_ptr<Node> InodeTable::forget(uint64_t ino, uint64_t count) {
  std::unique_lock lk(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end() || ino == kRootIno) return nullptr;
  auto n = it->second;
  n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
  if (n->nlookup) return nullptr;
  {
    std::lock_guard io(n->io_mu);
    if (n->open_count || (n->inode && n->inode->dirty_bytes() > 0)) return nullptr;
  }
  by_ino_.erase(it);
  auto q = by_qid_.find(n->qid.path);
  if (q != by_qid_.end() && q->second == ino) by_qid_.erase(q);
  return n;
}

std::shared_ptr<Node> InodeTable::prune(const std::shared_ptr<Node>& n) {
  if (has_dirty(*n)) return nullptr;
  std::lock_guard lk(mu_);
  if (n->nlookup) return nullptr;
  {
    std::lock_guard io(n->io_mu);
    if (n->open_count) return nullptr;
  }
  auto it = by_ino_.find(n->ino);
  // Gone already (a second release, or a forget that found it closed): retired once.
  if (it == by_ino_.end() || it->second != n) return nullptr;
  by_ino_.erase(it);
  auto q = by_qid_.find(n->qid.path);
  if (q != by_qid_.end() && q->second == n->ino) by_qid_.erase(q);
  return n;
}

std::vector<std::shared_ptr<Node>> InodeTable::all() const {
  std::lock_guard lk(mu_);
  std::vector<std::shared_ptr<Node>> v;
  v.reserve(by_ino_.size());
  for (auto& [ino, n] : by_ino_) v.push_back(n);
  return v;
}

size_t InodeTable::size() const {
  std::lock_guard lk(mu_);
  return by_ino_.size();
}

bool InodeTable::unreferenced(const Node& n) const {
  std::lock_guard lk(mu_);
  return n.nlookup == 0;
}

}  // namespace netfs::fuse
