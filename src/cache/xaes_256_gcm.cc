#include "cache/xaes_256_gcm.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <climits>
#include <cstring>
#include <memory>

namespace netfs::cache {

namespace {

// Fetched once: OpenSSL 3's implicit fetch by EVP_aes_256_gcm() takes a lock per call.
struct Ciphers {
  EVP_CIPHER* ecb = EVP_CIPHER_fetch(nullptr, "AES-256-ECB", nullptr);
  EVP_CIPHER* gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
};
const Ciphers& ciphers() {
  static const Ciphers c;
  return c;
}

using Ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

// Kx = AES-K(M1 ^ K1) || AES-K(M2 ^ K1), with L = AES-K(0), K1 = L << 1 (^ 0x87 on carry),
// Mi = 0x00 i 'X' 0x00 || nonce[0, 12).
bool derive_key(const uint8_t key[kXaesKeySize], const uint8_t nonce[kXaesNonceSize], uint8_t out[kXaesKeySize]) {
  Ctx c(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  if (!c || !ciphers().ecb) return false;
  if (EVP_EncryptInit_ex2(c.get(), ciphers().ecb, key, nullptr, nullptr) != 1) return false;
  EVP_CIPHER_CTX_set_padding(c.get(), 0);
  uint8_t blocks[48] = {};  // L's input (zeros), M1, M2
  uint8_t enc[48];
  int len = 0;
  if (EVP_EncryptUpdate(c.get(), enc, &len, blocks, 16) != 1 || len != 16) return false;
  uint8_t k1[16];
  for (int i = 0; i < 16; i++) k1[i] = static_cast<uint8_t>((enc[i] << 1) | (i < 15 ? enc[i + 1] >> 7 : 0));
  if (enc[0] & 0x80) k1[15] ^= 0x87;
  for (int m = 0; m < 2; m++) {
    uint8_t* b = blocks + 16 + 16 * m;
    b[0] = 0x00;
    b[1] = static_cast<uint8_t>(m + 1);
    b[2] = 'X';
    b[3] = 0x00;
    std::memcpy(b + 4, nonce, 12);
    for (int i = 0; i < 16; i++) b[i] ^= k1[i];
  }
  if (EVP_EncryptUpdate(c.get(), out, &len, blocks + 16, 32) != 1 || len != 32) return false;
  OPENSSL_cleanse(enc, sizeof enc);
  OPENSSL_cleanse(k1, sizeof k1);
  return true;
}

bool gcm(bool encrypt, const uint8_t key[kXaesKeySize], const uint8_t nonce[kXaesNonceSize], void* data, size_t n,
         std::span<const uint8_t> aad, uint8_t tag[kXaesTagSize]) {
  uint8_t kx[kXaesKeySize];
  if (!derive_key(key, nonce, kx)) return false;
  Ctx c(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  bool ok = c && ciphers().gcm &&
            EVP_CipherInit_ex2(c.get(), ciphers().gcm, kx, nonce + 12, encrypt ? 1 : 0, nullptr) == 1;
  OPENSSL_cleanse(kx, sizeof kx);
  if (!ok) return false;
  int len = 0;
  if (!aad.empty() && EVP_CipherUpdate(c.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return false;
  auto* p = static_cast<uint8_t*>(data);
  // EVP takes an int length: a granule is far below it, but walk in pieces all the same.
  while (n) {
    int k = static_cast<int>(n > (1u << 30) ? (1u << 30) : n);
    if (EVP_CipherUpdate(c.get(), p, &len, p, k) != 1) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  if (!encrypt && EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_TAG, kXaesTagSize, tag) != 1) return false;
  if (EVP_CipherFinal_ex(c.get(), p, &len) != 1) return false;  // decrypting: the tag check
  if (encrypt && EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, kXaesTagSize, tag) != 1) return false;
  return true;
}

}  // namespace

bool xaes_256_gcm_seal(const uint8_t key[kXaesKeySize], const uint8_t nonce[kXaesNonceSize], void* data, size_t n,
                       std::span<const uint8_t> aad, uint8_t tag[kXaesTagSize]) {
  return gcm(true, key, nonce, data, n, aad, tag);
}

bool xaes_256_gcm_open(const uint8_t key[kXaesKeySize], const uint8_t nonce[kXaesNonceSize], void* data, size_t n,
                       std::span<const uint8_t> aad, const uint8_t tag[kXaesTagSize]) {
  uint8_t t[kXaesTagSize];
  std::memcpy(t, tag, sizeof t);
  return gcm(false, key, nonce, data, n, aad, t);
}

}  // namespace netfs::cache
