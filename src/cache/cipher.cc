#include "cache/cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace netfs::cache {

namespace {

std::atomic<bool> g_fail_hmac{false};

bool hmac_sha256(const uint8_t* key, size_t key_len, const void* data, size_t n, uint8_t out[32]) {
  size_t len = 0;
  return !g_fail_hmac.load(std::memory_order_relaxed) &&
         EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key, key_len, static_cast<const uint8_t*>(data), n,
                   out, 32, &len) &&
         len == 32;
}

}  // namespace

void Cipher::fail_hmac_for_test(bool on) { g_fail_hmac.store(on); }

Result<std::unique_ptr<Cipher>> Cipher::create(const CacheKey& key) {
  static const char kSeal[] = "netfs cache seal key v1";
  static const char kName[] = "netfs cache name key v1";
  std::unique_ptr<Cipher> c(new Cipher());
  if (!hmac_sha256(key.bytes, sizeof key.bytes, kSeal, sizeof kSeal - 1, c->seal_key_) ||
      !hmac_sha256(key.bytes, sizeof key.bytes, kName, sizeof kName - 1, c->name_key_))
    return make_error(EIO, "cannot derive the cache's subkeys (OpenSSL HMAC-SHA256 failed)");
  return c;
}

Cipher::~Cipher() {
  OPENSSL_cleanse(seal_key_, sizeof seal_key_);
  OPENSSL_cleanse(name_key_, sizeof name_key_);
}

bool Cipher::seal(void* data, size_t n, std::span<const uint8_t> aad, Seal* out) const {
  if (RAND_bytes(out->nonce, sizeof out->nonce) != 1) return false;
  return xaes_256_gcm_seal(seal_key_, out->nonce, data, n, aad, out->tag);
}

bool Cipher::open(void* data, size_t n, std::span<const uint8_t> aad, const Seal& s) const {
  return xaes_256_gcm_open(seal_key_, s.nonce, data, n, aad, s.tag);
}

std::string Cipher::name(std::string_view text) const {
  uint8_t h[32];
  // A name that cannot be computed must not collide with another (two objects sharing
  // a name would authenticate each other's granules): a random one is a miss, never a
  // misread.
  if (!hmac_sha256(name_key_, sizeof name_key_, text.data(), text.size(), h) && RAND_bytes(h, sizeof h) != 1) {
    fprintf(stderr, "netfs: cache: neither HMAC nor RAND_bytes work; stopping rather than misnaming\n");
    abort();
  }
  static const char* kHex = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; i++) {
    out[2 * i] = kHex[h[i] >> 4];
    out[2 * i + 1] = kHex[h[i] & 15];
  }
  return out;
}

}  // namespace netfs::cache
