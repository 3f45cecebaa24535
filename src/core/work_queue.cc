#include "netfs/work_queue.h"

#include <algorithm>
#include <cassert>

namespace netfs {

using Clock = std::chrono::steady_clock;

WorkQueue::WorkQueue(unsigned threads) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; i++) threads_.emplace_back([this] { worker(); });
}

WorkQueue::~WorkQueue() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkQueue::enqueue_locked(WorkItem* item) {
  item->state_ = WorkItem::State::kQueued;
  items_.push_back(item);
  cv_.notify_one();
}

bool WorkQueue::queue(WorkItem* item) {
  std::lock_guard lk(mu_);
  switch (item->state_) {
    case WorkItem::State::kIdle:
      enqueue_locked(item);
      return true;
    case WorkItem::State::kDelayed:
      for (auto it = delayed_.begin(); it != delayed_.end(); ++it)
        if (it->second == item) {
          delayed_.erase(it);
          break;
        }
      enqueue_locked(item);
      return true;
    case WorkItem::State::kRunning:
      item->state_ = WorkItem::State::kRunningRequeue;
      return true;
    case WorkItem::State::kQueued:
    case WorkItem::State::kRunningRequeue:
      return false;
  }
  return false;
}

void WorkQueue::queue_delayed(WorkItem* item, std::chrono::nanoseconds delay) {
  std::lock_guard lk(mu_);
  if (item->state_ != WorkItem::State::kIdle) {
    // Already queued or running: it will run soon anyway and can re-arm its delay then.
    if (item->state_ == WorkItem::State::kRunning) item->state_ = WorkItem::State::kRunningRequeue;
    return;
  }
  item->state_ = WorkItem::State::kDelayed;
  item->due_ = Clock::now() + delay;
  delayed_.emplace(item->due_, item);
  cv_.notify_one();
}

void WorkQueue::cancel_sync(WorkItem* item) {
  std::unique_lock lk(mu_);
  for (;;) {
    switch (item->state_) {
      case WorkItem::State::kIdle:
        return;
      case WorkItem::State::kQueued:
        items_.erase(std::find(items_.begin(), items_.end(), item));
        item->state_ = WorkItem::State::kIdle;
        return;
      case WorkItem::State::kDelayed:
        for (auto it = delayed_.begin(); it != delayed_.end(); ++it)
          if (it->second == item) {
            delayed_.erase(it);
            break;
          }
        item->state_ = WorkItem::State::kIdle;
        return;
      case WorkItem::State::kRunningRequeue:
        item->state_ = WorkItem::State::kRunning;  // no rerun after a cancel
        [[fallthrough]];
      case WorkItem::State::kRunning:
        done_cv_.wait(lk);
        break;
    }
  }
}

void WorkQueue::run(std::function<void()> fn) {
  {
    std::lock_guard lk(mu_);
    fns_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void WorkQueue::worker() {
  std::unique_lock lk(mu_);
  for (;;) {
    // Promote delayed items whose time has come.
    auto now = Clock::now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      WorkItem* item = delayed_.begin()->second;
      delayed_.erase(delayed_.begin());
      item->state_ = WorkItem::State::kQueued;
      items_.push_back(item);
    }
    if (!items_.empty()) {
      WorkItem* item = items_.front();
      items_.pop_front();
      item->state_ = WorkItem::State::kRunning;
      lk.unlock();
      item->fn_(item->owner_);
      lk.lock();
      // After this point the item's owner may be freed by a cancel_sync() waiter: the item
      // is not touched again once done_cv_ has been signalled under mu_.
      if (item->state_ == WorkItem::State::kRunningRequeue) {
        item->state_ = WorkItem::State::kQueued;
        items_.push_back(item);
      } else {
        item->state_ = WorkItem::State::kIdle;
      }
      done_cv_.notify_all();
      continue;
    }
    if (!fns_.empty()) {
      auto fn = std::move(fns_.front());
      fns_.pop_front();
      lk.unlock();
      fn();
      lk.lock();
      continue;
    }
    if (stop_ && delayed_.empty()) return;
    if (!delayed_.empty()) {
      // A copy: wait_until reads the deadline again after waking, by when queue() may
      // have erased the node that held it.
      const Clock::time_point until = delayed_.begin()->first;
      cv_.wait_until(lk, until);
    } else
      cv_.wait(lk);
  }
}

}  // namespace netfs
