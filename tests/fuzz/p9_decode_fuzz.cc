// libFuzzer target for the 9P decoder: any bytes a server could send are split into
// frames the way the client's reader does and decoded as every reply type, under ASan
// and UBSan. A crash, an overread or an accepted frame whose re-encoding differs from its
// bytes is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "p9/codec.h"

namespace {

using namespace netfs::p9;

// A body that decodes as M must encode back to the same bytes: otherwise the decoder
// accepted something it did not fully understand.
template <class M>
void check(ByteSpan frame) {
  auto f = parse_frame(frame, 1u << 20);
  if (!f.ok()) return;
  auto m = decode<M>(f->body);
  if (!m.ok()) return;
  auto again = encode(*m);
  if (!again.ok()) return;  // a decoded string with a NUL cannot be encoded: refused above
  Bytes b = *again;
  set_message_tag(b, f->tag);
  b[4] = frame[4];  // decoded as M whatever the type byte said: compare the rest
  if (b.size() != frame.size() || !std::equal(b.begin(), b.end(), frame.begin())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteSpan in(reinterpret_cast<const std::byte*>(data), size);
  // The first 4 bytes choose the msize the frames are checked against, as a negotiated one.
  uint32_t msize = 8192;
  if (size >= 4) {
    msize = WireReader(in.first(4)).u32() % (1u << 20);
    in = in.subspan(4);
  }
  // Frame the rest as the client's reader does.
  while (in.size() >= 4) {
    uint32_t n = WireReader(in.first(4)).u32();
    if (n < kHeaderSize || n > msize || n > in.size()) {
      (void)decode_any(in, msize);  // malformed frames must be refused, not crash
      break;
    }
    ByteSpan frame = in.first(n);
    (void)decode_any(frame, msize);
    // Also decode each frame as every message type, whatever its type byte says.
    if (n >= kHeaderSize) {
#define NETFS_P9_CHECK(Name) check<msg::Name>(frame);
      NETFS_P9_EACH_MESSAGE(NETFS_P9_CHECK)
#undef NETFS_P9_CHECK
    }
    in = in.subspan(n);
  }
  return 0;
}
