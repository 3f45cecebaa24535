// XAES-256-GCM (C2SP, c2sp.org/XAES-256-GCM): AES-256-GCM with 192-bit nonces, through
// OpenSSL's EVP. Each nonce's first 12 bytes derive a fresh AES-256 key from the main key
// (two AES blocks, after NIST SP 800-108 in counter mode with CMAC), its last 12 bytes are
// the GCM nonce under that key. With random nonces the chance of a repeat after 2^64
// messages under one key is about 2^-65: no counter to keep across remounts, crashes or
// restored backups, unlike AES-GCM's 96-bit random nonces, whose 2^32-message bound a
// long-lived cache could reach. The cache's choice of it over libsodium's
// XChaCha20-Poly1305 was measured (README.md, bench/RESULTS.md): 2-3x faster here.
//
// Threading: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace netfs::cache {

inline constexpr size_t kXaesKeySize = 32;
inline constexpr size_t kXaesNonceSize = 24;
inline constexpr size_t kXaesTagSize = 16;

// Encrypts data[0, n) in place and writes the 16-byte tag over `aad` and the ciphertext.
// false only when OpenSSL fails (out of memory).
bool xaes_256_gcm_seal(const uint8_t key[kXaesKeySize], const uint8_t nonce[kXaesNonceSize], void* data, size_t n,
                       std::span<const uint8_t> aad, uint8_t tag[kXaesTagSize]);
// Decrypts data[0, n) in place; false when the tag does not authenticate it (the buffer
// then holds garbage, which the caller must not use).
bool xaes_256_gcm_open(const uint8_t key[kXaesKeySize], const uint8_t nonce[kXaesNonceSize], void* data, size_t n,
                       std::span<const uint8_t> aad, const uint8_t tag[kXaesTagSize]);

}  // namespace netfs::cache
