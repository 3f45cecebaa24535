// Wire primitives of 9P: little-endian integers, length-prefixed strings and qids.
//
// WireReader is the only way the codec looks at bytes a server sent. It is a cursor that
// poisons itself on the first read past the end (or a malformed string) and from then on
// returns zeros, so a decoder reads every field unconditionally and checks once, at the
// end, with done(): no field access can overread, whatever the reply claims.
//
// WireWriter builds one message: begin() reserves the header, put_*() append, finish()
// patches size[4]. It also poisons itself (a string over 65535 bytes) instead of
// producing a message that lies about its lengths.
//
// Threading: values used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "p9/protocol.h"

namespace netfs::p9 {

using Bytes = std::vector<std::byte>;
using ByteSpan = std::span<const std::byte>;

class WireReader {
 public:
  explicit WireReader(ByteSpan b) : b_(b) {}

  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  Qid qid() {
    Qid q;
    q.type = u8();
    q.version = u32();
    q.path = u64();
    return q;
  }
  // A string: length[2] bytes[length]. Embedded NULs poison: no path or name may hold one.
  std::string str();
  // n raw bytes, as a view into the message (empty and poisoned if fewer remain).
  ByteSpan bytes(size_t n);

  size_t remaining() const { return bad_ ? 0 : b_.size() - pos_; }
  bool bad() const { return bad_; }
  // True when nothing overran and every byte was consumed: the one check per message.
  bool done() const { return !bad_ && pos_ == b_.size(); }
  void poison() { bad_ = true; }

 private:
  uint64_t le(size_t n) {
    if (bad_ || b_.size() - pos_ < n) {
      bad_ = true;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= uint64_t(std::to_integer<uint8_t>(b_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }

  ByteSpan b_;
  size_t pos_ = 0;
  bool bad_ = false;
};

class WireWriter {
 public:
  explicit WireWriter(Bytes& out) : out_(out) {}

  // Starts a message of `type` with tag kNoTag; the client writes the real tag later.
  void begin(MsgType type) {
    out_.clear();
    put_u32(0);
    put_u8(static_cast<uint8_t>(type));
    put_u16(kNoTag);
  }
  void put_u8(uint8_t v) { out_.push_back(std::byte(v)); }
  void put_u16(uint16_t v) { put_le(v, 2); }
  void put_u32(uint32_t v) { put_le(v, 4); }
  void put_u64(uint64_t v) { put_le(v, 8); }
  void put_qid(const Qid& q) {
    put_u8(q.type);
    put_u32(q.version);
    put_u64(q.path);
  }
  void put_str(std::string_view s) {
    if (s.size() > 0xFFFF || s.find('\0') != std::string_view::npos) {
      bad_ = true;
      return;
    }
    put_u16(static_cast<uint16_t>(s.size()));
    put_bytes(s.data(), s.size());
  }
  void put_bytes(const void* p, size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  // Patches size[4]; false if a field could not be encoded or the message exceeds 4 GiB.
  bool finish() {
    if (bad_ || out_.size() > UINT32_MAX) return false;
    uint32_t n = static_cast<uint32_t>(out_.size());
    for (int i = 0; i < 4; i++) out_[i] = std::byte(n >> (8 * i));
    return true;
  }

 private:
  void put_le(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) out_.push_back(std::byte(v >> (8 * i)));
  }

  Bytes& out_;
  bool bad_ = false;
};

// Reads/writes the tag of an encoded message in place.
inline uint16_t message_tag(ByteSpan msg) {
  return static_cast<uint16_t>(std::to_integer<uint16_t>(msg[5]) | (std::to_integer<uint16_t>(msg[6]) << 8));
}
inline void set_message_tag(Bytes& msg, uint16_t tag) {
  msg[5] = std::byte(tag & 0xFF);
  msg[6] = std::byte(tag >> 8);
}

}  // namespace netfs::p9
