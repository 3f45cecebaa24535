// The 9P2000.L codec: encode any message of messages.h, decode any message from bytes a
// peer sent, and format any message for a trace line.
//
// Decoding trusts nothing: parse_frame() checks size[4] against the bytes received and the
// negotiated msize; decode<M>() walks M's fields through a poisoning WireReader and
// fails with EPROTO unless every field was present and every byte was used. Counts
// inside a message (walk elements, readdir records, data) are checked against the bytes
// that are actually there, never trusted to size an allocation.
//
// Threading: pure functions.
#pragma once

#include <cstdio>
#include <string>
#include <type_traits>

#include "netfs/result.h"
#include "p9/messages.h"
#include "p9/wire.h"

namespace netfs::p9 {

// One received message, split into header and body. body views the frame's bytes.
struct Frame {
  uint32_t size = 0;
  uint8_t type = 0;
  uint16_t tag = 0;
  ByteSpan body;
};

// Checks and splits one complete message. EPROTO if size[4] disagrees with the bytes, is
// smaller than a header or larger than msize.
Result<Frame> parse_frame(ByteSpan frame, uint32_t msize);

// Decodes any message by its type byte (for the fuzz target and tests): OK when the
// frame and its body are well formed, EPROTO otherwise, ENOTSUP for an unknown type.
Status decode_any(ByteSpan frame, uint32_t msize);

namespace codec_detail {

struct Encoder {
  WireWriter& w;
  bool ok = true;
  void operator()(const uint8_t& v) { w.put_u8(v); }
  void operator()(const uint16_t& v) { w.put_u16(v); }
  void operator()(const uint32_t& v) { w.put_u32(v); }
  void operator()(const uint64_t& v) { w.put_u64(v); }
  void operator()(const std::string& v) { w.put_str(v); }
  void operator()(const Qid& q) { w.put_qid(q); }
  void operator()(const Attr& a);
  void operator()(const SetAttr& a);
  void operator()(const StatFs& s);
  void operator()(const msg::Names& n);
  void operator()(const msg::Qids& q);
  void operator()(const msg::Data& d);
  void operator()(const msg::Dirents& d);
};

struct Decoder {
  WireReader& r;
  void operator()(uint8_t& v) { v = r.u8(); }
  void operator()(uint16_t& v) { v = r.u16(); }
  void operator()(uint32_t& v) { v = r.u32(); }
  void operator()(uint64_t& v) { v = r.u64(); }
  void operator()(std::string& v) { v = r.str(); }
  void operator()(Qid& q) { q = r.qid(); }
  void operator()(Attr& a);
  void operator()(SetAttr& a);
  void operator()(StatFs& s);
  void operator()(msg::Names& n);
  void operator()(msg::Qids& q);
  void operator()(msg::Data& d);
  void operator()(msg::Dirents& d);
};

struct Formatter {
  std::string out;
  void sep() { out += ' '; }
  void operator()(const uint8_t& v) { sep(), out += std::to_string(v); }
  void operator()(const uint16_t& v) { sep(), out += std::to_string(v); }
  void operator()(const uint32_t& v) { sep(), out += std::to_string(v); }
  void operator()(const uint64_t& v) { sep(), out += std::to_string(v); }
  void operator()(const std::string& v) { sep(), out += '"' + v + '"'; }
  void operator()(const Qid& q);
  void operator()(const Attr& a);
  void operator()(const SetAttr& a);
  void operator()(const StatFs& s);
  void operator()(const msg::Names& n);
  void operator()(const msg::Qids& q);
  void operator()(const msg::Data& d) { sep(), out += "data[" + std::to_string(d.v.size()) + "]"; }
  void operator()(const msg::Dirents& d) { sep(), out += "entries[" + std::to_string(d.v.size()) + "]"; }
};

}  // namespace codec_detail

// Encodes m as a whole message with tag kNoTag (the client sets the tag when it sends).
// EINVAL if a field cannot be represented (a string over 64 KiB or holding a NUL, more
// than 16 walk names).
template <class M>
Result<Bytes> encode(const M& m) {
  Bytes out;
  WireWriter w(out);
  w.begin(M::kType);
  codec_detail::Encoder e{w};
  // fields() is shared with the decoder, so it takes a mutable object; the encoder only reads.
  const_cast<M&>(m).fields(e);
  if (!e.ok || !w.finish()) return make_error(EINVAL, "9P: field cannot be encoded");
  return out;
}

// Decodes the body (the bytes after the 7-byte header) of a message of type M.
template <class M>
Result<M> decode(ByteSpan body) {
  M m{};
  WireReader r(body);
  codec_detail::Decoder d{r};
  m.fields(d);
  if (!r.done()) return make_error(EPROTO, r.bad() ? "9P: message truncated or malformed" : "9P: trailing bytes in message");
  return m;
}

// "Twalk 1 2 [a b]": the message's name and fields, for traces and test failures.
template <class M>
std::string format(const M& m) {
  codec_detail::Formatter f;
  f.out = M::kName;
  const_cast<M&>(m).fields(f);
  return f.out;
}

// Twrite with its data copied from a caller's buffer in one pass, the hot path's
// encoder: reserves header + count bytes, and fill() writes the data in place.
// Returns the message with the tag unset.
template <class Fill>
Bytes encode_twrite(uint32_t fid, uint64_t offset, uint32_t count, Fill&& fill) {
  Bytes out;
  out.reserve(kTwriteHeaderSize + count);
  WireWriter w(out);
  w.begin(MsgType::kTwrite);
  w.put_u32(fid);
  w.put_u64(offset);
  w.put_u32(count);
  out.resize(kTwriteHeaderSize + count);
  fill(out.data() + kTwriteHeaderSize);
  (void)w.finish();  // cannot fail: no strings, size < 4 GiB
  return out;
}

// Only the first 23 bytes of a Twrite carrying `count` bytes (size[4] counts them all):
// the data follows separately, for a zero-copy send.
Bytes encode_twrite_header(uint32_t fid, uint64_t offset, uint32_t count);

}  // namespace netfs::p9
