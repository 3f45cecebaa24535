#include "netfs/copy_dirty.h"

#include <algorithm>
#include <mutex>

#include "netfs/inode.h"

namespace netfs {

std::vector<DirtyExtent> copy_dirty(Inode& inode) {
  Mapping& m = inode.mapping();
  std::vector<DirtyExtent> out;
  std::lock_guard lk(m.mu_);
  const uint64_t size = inode.size_locked();
  for (auto& [pos, f] : m.folios_) {
    if (!(f->dirty || f->writeback) || f->dirty_to <= f->dirty_from) continue;
    uint64_t a = pos + f->dirty_from, b = std::min<uint64_t>(pos + f->dirty_to, size);
    if (a >= b) continue;
    const std::byte* src = f->data() + f->dirty_from;
    if (out.empty() || out.back().pos + out.back().bytes.size() != a) out.push_back({a, {}});
    out.back().bytes.insert(out.back().bytes.end(), src, src + (b - a));
  }
  return out;
}

}  // namespace netfs
