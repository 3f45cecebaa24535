#include "fuse/fid_pool.h"

#include <algorithm>

namespace netfs::fuse {

FidRef::FidRef(Node& n) : lk_(n.fid_mu, std::defer_lock) {
  // Bounded: a fid restored here may go stale again before it is used (another unlink).
  for (int attempt = 0; attempt < 3; attempt++) {
    lk_.lock();
    fid_ = n.fid;
    if (!n.pool) return;
    if (!n.pool->dead(fid_)) {
      n.pool->touch(n);
      return;
    }
    lk_.unlock();
    Status st = n.pool->restore(n, fid_);
    if (!st.ok()) {
      fid_ = p9::kNoFid;
      err_ = st.error();
      return;
    }
  }
  fid_ = p9::kNoFid;
  err_ = make_error(ESTALE, "fuse: the file's names keep going away");
}

FidRef::FidRef(Node& n, std::try_to_lock_t) : lk_(n.fid_mu) {
  fid_ = n.fid;
  if (!n.pool) return;
  if (n.pool->dead(fid_)) {
    fid_ = p9::kNoFid;
    err_ = make_error(EAGAIN, "fuse: the fid needs a restore");
    return;
  }
  n.pool->touch(n);
}

FidPair::FidPair(Node& a, Node& b) {
  for (int attempt = 0; attempt < 3; attempt++) {
    first_.emplace(a);
    if (!first_->status().ok() || &a == &b) return;
    second_.emplace(b, std::try_to_lock);
    if (second_->status().ok()) return;
    second_.reset();
    first_.reset();
    FidRef alone(b);  // restores b while nothing else is held
    if (!alone.status().ok()) {
      err_ = alone.status().error();
      return;
    }
  }
  second_.reset();
  first_.reset();
  err_ = make_error(ESTALE, "fuse: the file's names keep going away");
}

Status FidPair::status() const {
  if (err_) return Status(*err_);
  if (!first_) return make_error(ESTALE, "fuse: no fid");
  NETFS_TRY(first_->status());
  return second_ ? second_->status() : ok_status();
}

void FidPool::note_name_locked(Node& n, uint32_t fid) {
  auto fi = client_.fids().get(fid);
  if (!fi) return;
  auto& v = n.names;
  auto it = std::find(v.begin(), v.end(), fi->path);
  if (it != v.end()) v.erase(it);
  v.insert(v.begin(), std::move(fi->path));
  if (v.size() > kMaxNames) v.resize(kMaxNames);
}

Status FidPool::restore(Node& n, uint32_t seen) {
  std::unique_lock lk(n.fid_mu);
  if (n.fid != seen) return ok_status();
  if (!dead(n.fid)) return ok_status();
  uint32_t old = n.fid;
  bool was_io = n.fid_is_io;
  auto drop_old = [&] {
    // An I/O fid borrowed as metadata fid belongs to the I/O side.
    if (old != p9::kNoFid && !was_io && old != p9::Namespace::root()) (void)ns_.clunk(old);
  };
  for (size_t i = 0; i < n.names.size();) {
    auto e = ns_.walk(p9::Namespace::root(), n.names[i]);
    bool same = e.ok() && e->qid.path == n.qid.path &&
                (e->qid.type & p9::qid_type::kDir) == (n.qid.type & p9::qid_type::kDir);
    if (same) {
      n.fid = e->fid;
      n.fid_is_io = false;
      std::rotate(n.names.begin(), n.names.begin() + static_cast<ptrdiff_t>(i),
                  n.names.begin() + static_cast<ptrdiff_t>(i) + 1);
      reopened_.fetch_add(1, std::memory_order_relaxed);
      lk.unlock();
      drop_old();
      return ok_status();
    }
    if (e.ok()) (void)ns_.clunk(e->fid);
    // Another file has the name now, or nothing does: it is not this file's any more.
    if (e.ok() || e.errnum() == ENOENT || e.errnum() == ENOTDIR) {
      n.names.erase(n.names.begin() + static_cast<ptrdiff_t>(i));
      continue;
    }
    return e.error();  // the server did not answer: the names may still be good
  }
  n.fid = p9::kNoFid;
  n.fid_is_io = false;
  lk.unlock();
  drop_old();
  return make_error(ENOENT, "fuse: no name of the file leads to it any more");
}

void FidPool::touch(Node& n) {
  std::weak_ptr<Node> w = n.weak_from_this();
  if (w.expired()) return;  // not owned by a shared_ptr: not a table's node
  std::lock_guard lk(mu_);
  if (n.in_lru) {
    lru_.splice(lru_.begin(), lru_, n.lru_pos);
  } else {
    lru_.push_front(std::move(w));
    n.lru_pos = lru_.begin();
    n.in_lru = true;
  }
}

void FidPool::forget(Node& n) {
  std::lock_guard lk(mu_);
  if (!n.in_lru) return;
  lru_.erase(n.lru_pos);
  n.in_lru = false;
}

void FidPool::trim() {
  if (!release_) return;
  std::unique_lock t(trim_mu_, std::try_to_lock);
  if (!t) return;
  size_t budget;
  {
    std::lock_guard lk(mu_);
    budget = lru_.size();
  }
  while (budget-- > 0 && held() > max_) {
    std::shared_ptr<Node> n;
    {
      std::lock_guard lk(mu_);
      if (lru_.empty()) return;
      n = lru_.back().lock();
      lru_.pop_back();
      if (n) n->in_lru = false;
    }
    if (!n || release_(*n)) continue;
    touch(*n);  // busy: it was used just now, in effect
  }
}

void FidPool::name_gone(uint32_t dir, std::string_view name, uint64_t keep) {
  auto fi = client_.fids().get(dir);
  if (!fi) return;
  p9::Path p = fi->path;
  p.emplace_back(name);
  client_.fids().mark_stale_at(p, keep);
}

void FidPool::rename_names(Node& n, const p9::Path& from, const p9::Path& to) {
  std::unique_lock lk(n.fid_mu);
  for (auto& p : n.names) {
    if (p.size() < from.size() || !std::equal(from.begin(), from.end(), p.begin())) continue;
    p9::Path q = to;
    q.insert(q.end(), p.begin() + static_cast<ptrdiff_t>(from.size()), p.end());
    p = std::move(q);
  }
  // The directory's own new name may be there already (the lookup after the rename).
  for (size_t i = 1; i < n.names.size();) {
    if (std::find(n.names.begin(), n.names.begin() + static_cast<ptrdiff_t>(i), n.names[i]) !=
        n.names.begin() + static_cast<ptrdiff_t>(i))
      n.names.erase(n.names.begin() + static_cast<ptrdiff_t>(i));
    else
      i++;
  }
}

}  // namespace netfs::fuse
