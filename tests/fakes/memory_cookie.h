// MemoryCookie: an in-memory cache::Cookie for tests of the cache stream. Stores what
// stream 1 writes (or what a test preloads), serves reads of the bytes it holds, can fail
// writes and reads with an injected errno, and counts invalidations.
//
// Threading: every method is thread-safe.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "netfs/cache_cookie.h"
#include "netfs/request.h"

namespace netfs::testing {

class MemoryCookie : public cache::Cookie {
 public:
  bool write_enabled() const override { return enabled_.load(); }
  void issue_write(Subrequest& sreq) override {
    {
      std::lock_guard lk(mu_);
      if (hold_writes_) {
        held_.push_back(&sreq);
        held_cv_.notify_all();
        return;
      }
    }
    int err = fail_errno_.load();
    if (err) {
      sreq.terminated(-err);
      return;
    }
    size_t n = sreq.len() - sreq.transferred();
    uint64_t pos = sreq.start() + sreq.transferred();
    {
      std::lock_guard lk(mu_);
      if (data_.size() < pos + n) {
        data_.resize(pos + n);
        valid_.resize(pos + n);
      }
      sreq.io().copy_out(data_.data() + pos, n);
      std::fill(valid_.begin() + static_cast<ptrdiff_t>(pos), valid_.begin() + static_cast<ptrdiff_t>(pos + n), true);
      writes_++;
    }
    sreq.terminated(static_cast<int64_t>(n));
  }
  void invalidate() override {
    std::lock_guard lk(mu_);
    data_.clear();
    valid_.clear();
    invalidations_++;
    enabled_ = false;  // stays off until the owner re-enables it
  }

  void drop_range(uint64_t start, uint64_t len) override {
    std::lock_guard lk(mu_);
    if (start >= valid_.size()) return;
    uint64_t end = len > valid_.size() - start ? valid_.size() : start + len;
    std::fill(valid_.begin() + static_cast<ptrdiff_t>(start), valid_.begin() + static_cast<ptrdiff_t>(end), false);
  }

  uint64_t present(uint64_t start, uint64_t len) override {
    std::lock_guard lk(mu_);
    uint64_t n = 0;
    while (n < len && start + n < valid_.size() && valid_[start + n]) n++;
    return n;
  }
  void issue_read(Subrequest& sreq) override {
    if (int err = fail_reads_.load()) {
      sreq.terminated(-err);
      return;
    }
    size_t n = sreq.len() - sreq.transferred();
    uint64_t pos = sreq.start() + sreq.transferred();
    {
      std::lock_guard lk(mu_);
      n = pos < data_.size() ? std::min<size_t>(n, data_.size() - pos) : 0;
      sreq.io().copy_in(data_.data() + pos, n);
      reads_++;
    }
    sreq.terminated(static_cast<int64_t>(n));
  }
  // Puts bytes in the cache as if an earlier write had stored them.
  void preload(uint64_t pos, const std::vector<std::byte>& bytes) {
    std::lock_guard lk(mu_);
    if (data_.size() < pos + bytes.size()) {
      data_.resize(pos + bytes.size());
      valid_.resize(pos + bytes.size());
    }
    std::copy(bytes.begin(), bytes.end(), data_.begin() + static_cast<ptrdiff_t>(pos));
    std::fill(valid_.begin() + static_cast<ptrdiff_t>(pos), valid_.begin() + static_cast<ptrdiff_t>(pos + bytes.size()), true);
  }
  void fail_reads(int errnum) { fail_reads_ = errnum; }
  // Writes issued from now on wait (their folios stay under write-back) until
  // fail_held_writes ends them.
  void hold_writes() {
    std::lock_guard lk(mu_);
    hold_writes_ = true;
  }
  void wait_held_writes(size_t n) {
    std::unique_lock lk(mu_);
    held_cv_.wait(lk, [&] { return held_.size() >= n; });
  }
  // Ends the held writes with errnum (what they carry is not stored) and stops holding.
  void fail_held_writes(int errnum) {
    std::vector<Subrequest*> held;
    {
      std::lock_guard lk(mu_);
      hold_writes_ = false;
      held.swap(held_);
    }
    for (Subrequest* s : held) s->terminated(-errnum);
  }
  int reads() {
    std::lock_guard lk(mu_);
    return reads_;
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
  std::condition_variable held_cv_;
  bool hold_writes_ = false;
  std::vector<Subrequest*> held_;
  std::vector<std::byte> data_;
  std::vector<bool> valid_;
  std::atomic<int> fail_reads_{0};
  int reads_ = 0;
  int invalidations_ = 0;
  int writes_ = 0;
  std::atomic<bool> enabled_{true};
  std::atomic<int> fail_errno_{0};
};

}  // namespace netfs::testing
