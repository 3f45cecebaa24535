// Waiting in tests for a condition that other threads (or the kernel, or a server) make
// true: poll it, for at most a limit, and hand back whether it held, so that the test
// asserts the very condition it waited for and a condition that never comes fails the
// test in seconds instead of hanging until ctest's timeout.
#pragma once

#include <chrono>
#include <thread>

namespace netfs::testing {

template <typename F>
[[nodiscard]] bool eventually(F&& cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (unsigned i = 0;; i++) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Yield briefly, then poll gently: a spinning waiter on a loaded 2-core machine takes
    // the CPU from the very threads it waits for.
    if (i < 100)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace netfs::testing
