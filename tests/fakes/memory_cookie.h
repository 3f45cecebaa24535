// MemoryCookie: an in-memory cache::Cookie for tests of the cache stream. Stores what
// stream 1 writes, can fail writes with an injected errno, and counts invalidations.
//
// Threading: every method is thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "netfs/cache_cookie.h"
#include "netfs/request.h"

namespace netfs::testing {

class MemoryCookie : public cache::Cookie {
 public:
  bool write_enabled() const override { return enabled_.load(); }
  void issue_write(Subrequest& sreq) override {
    int err = fail_errno_.load();
    if (err) {
      sreq.terminated(-err);
      return;
    }
    size_t n = sreq.len() - sreq.transferred();
    uint64_t pos = sreq.start() + sreq.transferred();
    {
      std::lock_guard lk(mu_);
      if (data_.size() < pos + n) data_.resize(pos + n);
      sreq.io().copy_out(data_.data() + pos, n);
      writes_++;
    }
    sreq.terminated(static_cast<int64_t>(n));
  }
  void invalidate() override {
    std::lock_guard lk(mu_);
    data_.clear();
    invalidations_++;
    enabled_ = false;  // stays off until the owner re-enables it
  }

  void set_enabled(bool on) { enabled_ = on; }
  void fail_writes(int errnum) { fail_errno_ = errnum; }
  std::vector<std::byte> data() {
    std::lock_guard lk(mu_);
    return data_;
  }
  int invalidations() {
    std::lock_guard lk(mu_);
    return invalidations_;
  }
  int writes() {
    std::lock_guard lk(mu_);
    return writes_;
  }

 private:
  std::mutex mu_;
  std::vector<std::byte> data_;
  int invalidations_ = 0;
  int writes_ = 0;
  std::atomic<bool> enabled_{true};
  std::atomic<int> fail_errno_{0};
};

}  // namespace netfs::testing
