// Reproducible test data: the bytes for a seed, so that a test can check every byte that
// reached the server (or came back from it) without keeping a second copy around.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace netfs::testing {

inline std::vector<std::byte> pattern(size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    v[i] = std::byte(x >> 24);
  }
  return v;
}

}  // namespace netfs::testing
