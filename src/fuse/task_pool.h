// TaskPool: a few threads for blocking calls that should overlap (readdirplus fetches
// the attributes of a batch of entries at once instead of one round trip after another).
//
// Threading: run_all may be called from any thread, several at once.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace netfs::fuse {

class TaskPool {
 public:
  explicit TaskPool(unsigned threads) {
    for (unsigned i = 0; i < threads; i++) threads_.emplace_back([this] { loop(); });
  }
  ~TaskPool() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // Runs every task, on the pool and on the calling thread; returns when all are done.
  void run_all(std::vector<std::function<void()>>& tasks) {
    const size_t n = tasks.size();
    if (n == 0) return;
    struct Batch {
      std::atomic<size_t> next{0};
      std::mutex mu;
      std::condition_variable cv;
      size_t done = 0;
    };
    auto b = std::make_shared<Batch>();
    std::function<void()>* t = tasks.data();
    // A helper that starts after the batch is over finds next >= n and touches nothing
    // but the batch, which it keeps alive.
    auto work = [b, t, n] {
      size_t did = 0;
      for (size_t i; (i = b->next.fetch_add(1)) < n; did++) t[i]();
      if (!did) return;
      std::lock_guard lk(b->mu);
      b->done += did;
      if (b->done == n) b->cv.notify_all();
    };
    size_t helpers = std::min(n - 1, threads_.size());
    {
      std::lock_guard lk(mu_);
      for (size_t i = 0; i < helpers; i++) queue_.push_back(work);
    }
    for (size_t i = 0; i < helpers; i++) cv_.notify_one();
    work();
    std::unique_lock lk(b->mu);
    b->cv.wait(lk, [&] { return b->done == n; });
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_
      auto f = std::move(queue_.front());
      queue_.pop_front();
      lk.unlock();
      f();
      lk.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace netfs::fuse
