#include "netfs/folio.h"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace netfs {

namespace {

// Page alignment lets backends hand folio memory to O_DIRECT files and splice.
constexpr std::align_val_t kFolioAlign{4096};

// Folios of 64 KiB and more are mapped straight from the kernel rather than taken from
// malloc's heap: an aligned heap block wastes up to a page per folio and the heap keeps
// freed blocks resident, so a reader cycling through the memory budget would hold more
// than the budget. A few freed mappings are kept for reuse, which saves the mmap/munmap
// pair on the read path's steady churn without holding much.
constexpr size_t kMapThreshold = 64 * 1024;
constexpr size_t kPoolBytes = 16 << 20;

struct Pool {
  std::mutex mu;
  std::vector<std::pair<size_t, void*>> free;  // (size, mapping)
  size_t bytes = 0;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: folios may be freed during exit
  return *p;
}

std::byte* allocate(size_t size) {
  if (size < kMapThreshold) return static_cast<std::byte*>(::operator new(size, kFolioAlign));
  {
    Pool& p = pool();
    std::lock_guard lk(p.mu);
    for (size_t i = 0; i < p.free.size(); i++)
      if (p.free[i].first == size) {
        void* m = p.free[i].second;
        p.free[i] = p.free.back();
        p.free.pop_back();
        p.bytes -= size;
        return static_cast<std::byte*>(m);
      }
  }
  // MAP_POPULATE: one call faults every page in, instead of a fault per page when the
  // folio is first written (a third of the daemon's time on sequential writes).
  void* m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();  // as operator new would: out of memory
  return static_cast<std::byte*>(m);
}

void release(std::byte* data, size_t size) {
  if (size < kMapThreshold) {
    ::operator delete(data, kFolioAlign);
    return;
  }
  {
    Pool& p = pool();
    std::lock_guard lk(p.mu);
    if (p.bytes + size <= kPoolBytes) {
      p.free.emplace_back(size, data);
      p.bytes += size;
      return;
    }
  }
  munmap(data, size);
}

}  // namespace

Folio::Folio(uint64_t pos, size_t size) : pos_(pos), size_(size), data_(allocate(size)) {}

Folio::~Folio() { release(data_, size_); }

}  // namespace netfs
