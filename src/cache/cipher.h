// Cipher: what an encrypted cache (`-o cache_key`) does with its key. Every block it
// writes (a granule, a content-map record or header, the key check record) is sealed with
// XAES-256-GCM under a fresh random 192-bit nonce, with associated data that says where
// the block belongs; file names are a keyed hash of what they stand for (server URL,
// qid), so a name reveals nothing and cannot be confirmed by guessing without the key.
// Two subkeys are derived from the key file's key (HMAC-SHA256 with a label each): one
// for sealing, one for names.
//
// Threading: immutable after construction; every method is safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "cache/cache_key.h"
#include "cache/xaes_256_gcm.h"
#include "netfs/result.h"

namespace netfs::cache {

// What a sealed block needs besides its ciphertext.
struct Seal {
  uint8_t nonce[kXaesNonceSize] = {};
  uint8_t tag[kXaesTagSize] = {};
};

class Cipher {
 public:
  // EIO when a subkey cannot be derived (OpenSSL failed): an encrypted cache must then
  // not open at all rather than seal under a key anyone can compute.
  static Result<std::unique_ptr<Cipher>> create(const CacheKey& key);
  ~Cipher();
  Cipher(const Cipher&) = delete;
  Cipher& operator=(const Cipher&) = delete;

  // Encrypts data[0, n) in place under a fresh random nonce. false: OpenSSL failed.
  bool seal(void* data, size_t n, std::span<const uint8_t> aad, Seal* out) const;
  // Decrypts data[0, n) in place; false when it does not authenticate (then the bytes
  // must not be used).
  bool open(void* data, size_t n, std::span<const uint8_t> aad, const Seal& s) const;
  // 32 hex digits standing for `text` on disk.
  std::string name(std::string_view text) const;

  // Tests only: makes every HMAC fail, as OpenSSL does when it cannot allocate.
  static void fail_hmac_for_test(bool on);

 private:
  Cipher() = default;
  uint8_t seal_key_[kXaesKeySize];
  uint8_t name_key_[32];
};

// Associated data, built field by field (integers little-endian as stored).
class Aad {
 public:
  explicit Aad(std::string_view label) { bytes(label.data(), label.size()); }
  Aad& bytes(const void* p, size_t n) {
    s_.append(static_cast<const char*>(p), n);
    return *this;
  }
  Aad& str(std::string_view v) {
    u64(v.size());
    return bytes(v.data(), v.size());
  }
  Aad& u64(uint64_t v) { return bytes(&v, sizeof v); }
  std::span<const uint8_t> span() const { return {reinterpret_cast<const uint8_t*>(s_.data()), s_.size()}; }

 private:
  std::string s_;
};

}  // namespace netfs::cache
