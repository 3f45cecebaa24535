#include "p9/wire.h"

namespace netfs::p9 {

std::string WireReader::str() {
  uint16_t n = u16();
  ByteSpan b = bytes(n);
  if (bad_) return {};
  std::string s(reinterpret_cast<const char*>(b.data()), b.size());
  // A NUL would silently truncate the name when it reaches a C API.
  if (s.find('\0') != std::string::npos) {
    bad_ = true;
    return {};
  }
  return s;
}

ByteSpan WireReader::bytes(size_t n) {
  if (bad_ || b_.size() - pos_ < n) {
    bad_ = true;
    return {};
  }
  ByteSpan s = b_.subspan(pos_, n);
  pos_ += n;
  return s;
}

}  // namespace netfs::p9
