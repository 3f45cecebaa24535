#include "netfs/inode.h"

#include "netfs/engine.h"

namespace netfs {

Inode::Inode(Engine& engine, RequestOps& ops, uint64_t backend_id, uint64_t remote_size,
             cache::Cookie* cookie, uint64_t ino)
    : engine_(engine),
      ops_(ops),
      backend_id_(backend_id),
      ino_(ino),
      cookie_(cookie),
      mapping_(engine.options().folio_size),
      size_(remote_size),
      zero_point_(remote_size) {}

Inode::~Inode() {
  // Folios still held are clean (the engine pins dirty inodes); give back their memory.
  int64_t n = 0;
  for (auto& [pos, f] : mapping_.folios_) n += static_cast<int64_t>(f->size());
  gauge_add(engine_.stats().mem_resident_bytes, -n);
  gauge_add(engine_.stats().objs_folios, -static_cast<int64_t>(mapping_.folios_.size()));
  if (refusals_) gauge_add(engine_.stats().wb_refused_now, -1);  // last reference: no lock needed
}

uint64_t Inode::size() {
  std::lock_guard lk(mapping_.mu_);
  return size_;
}

uint64_t Inode::zero_point() {
  std::lock_guard lk(mapping_.mu_);
  return zero_point_;
}

uint64_t Inode::dirty_bytes() {
  // No mapping lock: the engine calls this under its own lock, which writers take while
  // holding the mapping lock.
  return mapping_.dirty_bytes_.load(std::memory_order_relaxed);
}

}  // namespace netfs
