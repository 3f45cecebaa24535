#include "netfs/mapping.h"

#include <cassert>

namespace netfs {

Mapping::Mapping(size_t folio_size) : folio_size_(folio_size) {
  assert(folio_size_ >= 4096 && (folio_size_ & (folio_size_ - 1)) == 0);
}

Mapping::~Mapping() {
  for (auto& [pos, f] : folios_) f->put_ref();
}

Folio* Mapping::find_locked(uint64_t pos) const {
  auto it = folios_.find(folio_pos(pos));
  return it == folios_.end() ? nullptr : it->second;
}

std::map<uint64_t, Folio*>::iterator Mapping::wait_unlocked_locked(std::unique_lock<std::mutex>& lk, Folio* f) {
  f->get_ref();
  cv_.wait(lk, [&] { return !f->locked; });
  const uint64_t pos = f->pos();
  f->put_ref();
  return folios_.lower_bound(pos);
}

Folio* Mapping::find_or_create_locked(uint64_t pos, bool* created) {
  uint64_t fpos = folio_pos(pos);
  auto [it, inserted] = folios_.try_emplace(fpos, nullptr);
  if (inserted) it->second = new Folio(fpos, folio_size_);
  *created = inserted;
  return it->second;
}

void Mapping::erase_locked(Folio* f) {
  assert(!f->dirty && !f->locked && !f->writeback);
  folios_.erase(f->pos());
  f->put_ref();
}

}  // namespace netfs
