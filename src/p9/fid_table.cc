#include "p9/fid_table.h"

#include <algorithm>

namespace netfs::p9 {

uint32_t FidTable::alloc() {
  std::lock_guard lk(mu_);
  if (!free_.empty()) {
    // Lowest first: free_ is kept as a min-heap.
    std::pop_heap(free_.begin(), free_.end(), std::greater<>());
    uint32_t f = free_.back();
    free_.pop_back();
    return f;
  }
  return next_++;
}

void FidTable::release(uint32_t fid) {
  std::lock_guard lk(mu_);
  fids_.erase(fid);
  if (fid == kRootFid) return;
  free_.push_back(fid);
  std::push_heap(free_.begin(), free_.end(), std::greater<>());
}

void FidTable::set(uint32_t fid, FidInfo info) {
  std::lock_guard lk(mu_);
  fids_[fid] = std::move(info);
}

bool FidTable::clone_entry(uint32_t from, uint32_t to) { return derive(from, to, {}, nullptr); }

bool FidTable::walked_entry(uint32_t from, uint32_t to, const std::vector<std::string>& names, const Qid& qid) {
  return derive(from, to, names, &qid);
}

bool FidTable::derive(uint32_t from, uint32_t to, const std::vector<std::string>& names, const Qid* qid) {
  std::lock_guard lk(mu_);
  auto it = fids_.find(from);
  if (it == fids_.end() || it->second.stale) return false;
  FidInfo info;  // not open, not stale, rebuildable, no locks
  info.path = join_path(it->second.path, names);
  info.qid = qid ? *qid : it->second.qid;
  fids_[to] = std::move(info);
  return true;
}

void FidTable::set_open(uint32_t fid, uint32_t flags, const Qid& qid, uint32_t iounit) {
  std::lock_guard lk(mu_);
  auto it = fids_.find(fid);
  if (it == fids_.end()) return;
  it->second.open_flags = flags;
  it->second.qid = qid;
  it->second.iounit = iounit;
}

uint32_t FidTable::iounit(uint32_t fid) const {
  std::lock_guard lk(mu_);
  auto it = fids_.find(fid);
  return it == fids_.end() ? 0 : it->second.iounit;
}

void FidTable::erase(uint32_t fid) {
  std::lock_guard lk(mu_);
  fids_.erase(fid);
}

std::optional<FidInfo> FidTable::get(uint32_t fid) const {
  std::lock_guard lk(mu_);
  auto it = fids_.find(fid);
  if (it == fids_.end()) return std::nullopt;
  return it->second;
}

bool FidTable::is_stale(uint32_t fid) const {
  std::lock_guard lk(mu_);
  auto it = fids_.find(fid);
  return it != fids_.end() && it->second.stale;
}

bool FidTable::contains(uint32_t fid) const {
  std::lock_guard lk(mu_);
  return fids_.count(fid) != 0;
}

void FidTable::mark_stale(uint32_t fid) {
  std::lock_guard lk(mu_);
  auto it = fids_.find(fid);
  if (it != fids_.end()) it->second.stale = true;
}

void FidTable::record_lock(uint32_t fid, const Lock& l) {
  std::lock_guard lk(mu_);
  auto it = fids_.find(fid);
  if (it == fids_.end()) return;
  uint64_t start = l.start;
  uint64_t end = l.length == 0 || l.length > UINT64_MAX - start ? UINT64_MAX : start + l.length;
  std::vector<HeldLock> next;
  for (const HeldLock& h : it->second.locks) {
    bool same_owner = h.proc_id == l.proc_id && h.client_id == l.client_id;
    if (!same_owner || h.end <= start || h.start >= end) {
      next.push_back(h);
      continue;
    }
    // Keep the parts of h outside [start, end).
    if (h.start < start) {
      HeldLock left = h;
      left.end = start;
      next.push_back(left);
    }
    if (h.end > end) {
      HeldLock right = h;
      right.start = end;
      next.push_back(right);
    }
  }
  if (l.type != lock_type::kUnlck) next.push_back(HeldLock{l.type, start, end, l.proc_id, l.client_id});
  it->second.locks = std::move(next);
}

void FidTable::rename(const Path& from, const Path& to) {
  std::lock_guard lk(mu_);
  for (auto& [fid, info] : fids_) {
    if (info.path.size() < from.size() || !std::equal(from.begin(), from.end(), info.path.begin())) continue;
    Path p = to;
    p.insert(p.end(), info.path.begin() + static_cast<ptrdiff_t>(from.size()), info.path.end());
    info.path = std::move(p);
  }
}

size_t FidTable::mark_stale_at(const Path& path, uint64_t keep) {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (auto& [fid, info] : fids_) {
    if (fid == kRootFid || info.open_flags >= 0 || info.stale || info.qid.path == keep || info.path != path) continue;
    info.stale = true;
    n++;
  }
  return n;
}

std::vector<std::pair<uint32_t, FidInfo>> FidTable::snapshot() const {
  std::lock_guard lk(mu_);
  return {fids_.begin(), fids_.end()};
}

size_t FidTable::size() const {
  std::lock_guard lk(mu_);
  return fids_.size();
}

Path join_path(const Path& base, const std::vector<std::string>& names) {
  Path p = base;
  for (const auto& n : names) {
    if (n == "." || n.empty()) continue;
    if (n == "..") {
      if (!p.empty()) p.pop_back();
      continue;
    }
    p.push_back(n);
  }
  return p;
}

}  // namespace netfs::p9
