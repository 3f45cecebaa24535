// WorkQueue: a fixed pool of threads running WorkItems, after the kernel's workqueue.
//
// A WorkItem is embedded in the object it works on and carries no reference to it:
//  - queue() on an item that is already queued does nothing; on an item that is running
//    it only notes that the item must run once more when the current run ends, so two
//    runs of one item never overlap and no wake-up is lost.
//  - cancel_sync() removes a queued item, or waits until a running one has finished and
//    will not run again. Whoever frees the object calls it first; that is what makes a
//    reference for the item unnecessary.
// queue_delayed() runs the item after a delay (retry backoff); queue() before the delay
// expires runs it at once.
//
// Threading: all methods may be called from any thread, including from inside a running
// item (which must not cancel_sync() itself).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace netfs {

class WorkQueue;

class WorkItem {
 public:
  using Fn = void (*)(void* owner);
  WorkItem(Fn fn, void* owner) : fn_(fn), owner_(owner) {}
  WorkItem(const WorkItem&) = delete;
  WorkItem& operator=(const WorkItem&) = delete;

 private:
  friend class WorkQueue;
  enum class State : uint8_t { kIdle, kQueued, kDelayed, kRunning, kRunningRequeue };
  Fn fn_;
  void* owner_;
  State state_ = State::kIdle;  // guarded by WorkQueue::mu_
  std::chrono::steady_clock::time_point due_{};
};

class WorkQueue {
 public:
  explicit WorkQueue(unsigned threads);
  ~WorkQueue();  // drains queued items, then joins
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Returns false if the item was already queued (or a rerun was already noted).
  bool queue(WorkItem* item);
  void queue_delayed(WorkItem* item, std::chrono::nanoseconds delay);
  void cancel_sync(WorkItem* item);

  // Runs a one-off function on the pool (for cleanup that may block).
  void run(std::function<void()> fn);

  unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

 private:
  void worker();
  void enqueue_locked(WorkItem* item);

  std::mutex mu_;
  std::condition_variable cv_;       // work available or stopping
  std::condition_variable done_cv_;  // an item finished running
  std::deque<WorkItem*> items_;
  std::deque<std::function<void()>> fns_;
  std::multimap<std::chrono::steady_clock::time_point, WorkItem*> delayed_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace netfs
