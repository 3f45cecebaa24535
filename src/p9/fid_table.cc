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

void FidTable::set_open(uint32_t fid, uint32_t flags, const Qid& qid) {
  std::lock_guard lk(mu_);
  auto it = fids_.find(fid);
  if (it == fids_.end()) return;
  it->second.open_flags = flags;
  it->second.qid = qid;
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

void FidTable::mark_stale(uint32_t fid) {
  std::lock_guard lk(mu_);
  auto it = fids_.find(fid);
  if (it != fids_.end()) it->second.stale = true;
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
