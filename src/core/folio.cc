#include "netfs/folio.h"

#include <new>

namespace netfs {

namespace {
// Page alignment lets backends hand folio memory to O_DIRECT files and splice.
constexpr std::align_val_t kFolioAlign{4096};
}  // namespace

Folio::Folio(uint64_t pos, size_t size)
    : pos_(pos), size_(size), data_(static_cast<std::byte*>(::operator new(size, kFolioAlign))) {}

Folio::~Folio() { ::operator delete(data_, kFolioAlign); }

}  // namespace netfs
