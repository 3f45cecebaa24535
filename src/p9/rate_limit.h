// RateLimit: lets through at most `burst` events per `period` and counts the rest, so that
// a log line written for every disconnect or failed reconnect cannot flood the log when a
// server misbehaves in a loop (issue 15). The caller prints what passes, with how many
// were held back since the last one that passed.
//
// Threading: not synchronised; the client uses it under its own mutex or from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace netfs::p9 {

class RateLimit {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimit(unsigned burst, std::chrono::milliseconds period) : burst_(burst), period_(period) {}

  // nullopt: suppress this event. Otherwise let it through; the value is how many events
  // were suppressed since the last one let through.
  std::optional<uint64_t> allow(Clock::time_point now = Clock::now()) {
    if (now - window_start_ >= period_) {
      window_start_ = now;
      used_ = 0;
    }
    if (used_ >= burst_) {
      suppressed_++;
      return std::nullopt;
    }
    used_++;
    uint64_t s = suppressed_;
    suppressed_ = 0;
    return s;
  }

 private:
  const unsigned burst_;
  const std::chrono::milliseconds period_;
  Clock::time_point window_start_{};
  unsigned used_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace netfs::p9
