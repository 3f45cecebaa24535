// cipher_bench: the candidate ciphers for the encrypted cache, sealing and opening 1 GiB
// in 64 KiB granules (the cache's unit) on one core, in one run: XAES-256-GCM as the cache
// uses it (a key derived per nonce, then AES-256-GCM), OpenSSL's AES-256-GCM alone, and,
// when built with libsodium (Debian libsodium-dev), its XChaCha20-Poly1305 and AES-256-GCM.
// Prints CPU seconds per GiB and MB/s of each.
//
//   ./build/bench/cache/cipher_bench [--mib N]
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <vector>

#include "cache/xaes_256_gcm.h"
#ifdef NETFS_HAVE_SODIUM
#include <sodium.h>
#endif

namespace {

constexpr size_t kGranule = 64 * 1024;

double cpu_now() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// seal(b) seals b in place (and keeps its tag); open(b) opens it in place. Each open gets
// the sealed bytes afresh (libsodium checks the tag before decrypting, so a failing open
// would cost less); the copy's own time, measured apart, is subtracted.
void measure(const char* name, size_t granules, const std::function<bool(uint8_t*)>& seal,
             const std::function<bool(uint8_t*)>& open) {
  std::vector<uint8_t> buf(kGranule, 0x42);
  double gib = static_cast<double>(granules * kGranule) / (1u << 30);
  double c0 = cpu_now();
  bool ok = true;
  for (size_t i = 0; i < granules; i++) ok = seal(buf.data()) && ok;
  double s = cpu_now() - c0;
  std::vector<uint8_t> sealed = buf;
  c0 = cpu_now();
  for (size_t i = 0; i < granules; i++) {
    std::memcpy(buf.data(), sealed.data(), kGranule);
    asm volatile("" : : "r"(buf.data()) : "memory");
  }
  double copy = cpu_now() - c0;
  c0 = cpu_now();
  for (size_t i = 0; i < granules; i++) {
    std::memcpy(buf.data(), sealed.data(), kGranule);
    ok = open(buf.data()) && ok;
  }
  double o = cpu_now() - c0 - copy;
  std::printf("  %-32s seal %5.2f CPU s/GiB (%5.0f MB/s)  open %5.2f CPU s/GiB (%5.0f MB/s)%s\n", name, s / gib,
              static_cast<double>(granules * kGranule) / 1e6 / s, o / gib,
              static_cast<double>(granules * kGranule) / 1e6 / o, ok ? "" : "  (FAILED)");
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 1024;
  for (int i = 1; i + 1 < argc; i += 2)
    if (!std::strcmp(argv[i], "--mib")) mib = std::strtoull(argv[i + 1], nullptr, 10);
  const size_t granules = mib * 16;
  uint8_t key[32], nonce[24], tag[16];
  RAND_bytes(key, sizeof key);
  RAND_bytes(nonce, sizeof nonce);
  const uint8_t aad[48] = {1};
  std::printf("cipher_bench: %zu MiB in 64 KiB granules, one core\n", mib);

  measure(
      "XAES-256-GCM (OpenSSL, ours)", granules,
      [&](uint8_t* b) { return netfs::cache::xaes_256_gcm_seal(key, nonce, b, kGranule, aad, tag); },
      [&](uint8_t* b) { return netfs::cache::xaes_256_gcm_open(key, nonce, b, kGranule, aad, tag); });

  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  auto gcm = [&](uint8_t* b, bool seal) {
    int len = 0;
    bool ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), nullptr, key, nonce, seal ? 1 : 0) == 1 &&
              EVP_CipherUpdate(c, nullptr, &len, aad, sizeof aad) == 1 &&
              EVP_CipherUpdate(c, b, &len, b, kGranule) == 1;
    if (!seal) ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, b + len, &len) == 1;
    if (seal) ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    return ok;
  };
  measure("AES-256-GCM (OpenSSL)", granules, [&](uint8_t* b) { return gcm(b, true); },
          [&](uint8_t* b) { return gcm(b, false); });
  EVP_CIPHER_CTX_free(c);

#ifdef NETFS_HAVE_SODIUM
  if (sodium_init() < 0) return 1;
  unsigned long long ml = 0;
  measure(
      "XChaCha20-Poly1305 (libsodium)", granules,
      [&](uint8_t* b) {
        return crypto_aead_xchacha20poly1305_ietf_encrypt_detached(b, tag, &ml, b, kGranule, aad, sizeof aad,
                                                                   nullptr, nonce, key) == 0;
      },
      [&](uint8_t* b) {
        return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(b, nullptr, b, kGranule, tag, aad, sizeof aad,
                                                                   nonce, key) == 0;
      });
  if (crypto_aead_aes256gcm_is_available())
    measure(
        "AES-256-GCM (libsodium)", granules,
        [&](uint8_t* b) {
          return crypto_aead_aes256gcm_encrypt_detached(b, tag, &ml, b, kGranule, aad, sizeof aad, nullptr, nonce,
                                                        key) == 0;
        },
        [&](uint8_t* b) {
          return crypto_aead_aes256gcm_decrypt_detached(b, nullptr, b, kGranule, tag, aad, sizeof aad, nonce, key) ==
                 0;
        });
#else
  std::printf("  (libsodium's ciphers: not built; install libsodium-dev and reconfigure)\n");
#endif
  return 0;
}
