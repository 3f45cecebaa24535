// Cancel: a caller's wish that an operation stop waiting, the engine's counterpart of the
// kernel's signal_pending(current). The FUSE layer makes one per operation that may wait
// for the server, installs it for the calling thread with a Cancel::Scope, and calls
// request() when the kernel sends FUSE_INTERRUPT (the caller got a signal). Every engine
// wait that can last as long as the server is away (a folio's lock or write-back, a
// request's completion, room under the dirty limit, fsync's wait) then returns, and the
// operation ends with EINTR. Nothing is undone: folios already under write-back finish
// it, dirty data stays dirty, and a request the waiter was collecting is handed to the
// WorkQueue, so its outcome (an error in the inode's errseq, a redirty) is recorded as if
// nobody had stopped waiting.
//
// Why a thread's token and not a parameter: the waits sit several calls below the entry
// points (fsync → writepages → Request::wait), as the kernel's do below the syscall; a
// parameter would run through every signature of the engine for one bit of state.
//
// The waits below (wait_cancellable*) are how the engine waits; a backend that blocks a
// caller's thread may use them too.
//
// Threading: request() and requested() from any thread. A Scope belongs to the thread that
// made it; only that thread's waits watch the token.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace netfs {

class Cancel {
 public:
  Cancel() = default;
  Cancel(const Cancel&) = delete;
  Cancel& operator=(const Cancel&) = delete;

  // Asks the operation to stop waiting; wakes the wait it is in, if any. Idempotent.
  void request();
  bool requested() const { return requested_.load(std::memory_order_acquire); }

  // The calling thread's token (null: its waits cannot be cancelled).
  static Cancel* current();
  // Whether the calling thread's token was requested.
  static bool current_requested();

  // Installs a token for the calling thread for the scope's life (nesting restores the
  // outer one).
  class Scope {
   public:
    explicit Scope(Cancel& c);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Cancel* prev_;
  };

  // Registers a wait (its mutex and condition variable) so that request() wakes it.
  // Construct and destroy with `mu` held; then check requested() under `mu` before each
  // cv.wait: request() takes `mu` before it notifies, so the wake cannot fall between the
  // check and the wait. One wait at a time per token.
  class Watch {
   public:
    Watch(Cancel& c, std::mutex& mu, std::condition_variable& cv);
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

   private:
    Cancel& c_;
  };

 private:
  std::atomic<bool> requested_{false};
  // Lock order: a waiter's mutex, then mu_ (Watch). request() holds mu_ and only
  // try-locks the waiter's mutex, letting go of mu_ between attempts.
  std::mutex mu_;
  std::mutex* wait_mu_ = nullptr;              // guarded by mu_
  std::condition_variable* wait_cv_ = nullptr;  // guarded by mu_
};

enum class WaitEnd : uint8_t { kReady, kTimeout, kCancelled };

// Waits until pred() holds (kReady), `deadline` passes with pred() still false (kTimeout),
// or `c` is requested (kCancelled; c is usually Cancel::current(), null waits as cv.wait).
// Requires: lk holds the mutex that guards what pred() reads. Like cv.wait, lets go of it
// while waiting.
template <class Pred>
WaitEnd wait_cancellable_until(Cancel* c, std::condition_variable& cv, std::unique_lock<std::mutex>& lk,
                               std::chrono::steady_clock::time_point deadline, Pred pred) {
  if (pred()) return WaitEnd::kReady;
  // No deadline: plain waits (a time_point this far out would overflow the timespec).
  const bool forever = deadline == std::chrono::steady_clock::time_point::max();
  if (!c) {
    if (forever) {
      cv.wait(lk, pred);
      return WaitEnd::kReady;
    }
    return cv.wait_until(lk, deadline, pred) ? WaitEnd::kReady : WaitEnd::kTimeout;
  }
  Cancel::Watch watch(*c, *lk.mutex(), cv);
  while (!pred()) {
    if (c->requested()) return WaitEnd::kCancelled;
    if (forever)
      cv.wait(lk);
    else if (cv.wait_until(lk, deadline) == std::cv_status::timeout && !pred())
      return WaitEnd::kTimeout;
  }
  return WaitEnd::kReady;
}

// The same without a deadline: true when pred() holds, false when cancelled.
template <class Pred>
bool wait_cancellable(Cancel* c, std::condition_variable& cv, std::unique_lock<std::mutex>& lk, Pred pred) {
  return wait_cancellable_until(c, cv, lk, std::chrono::steady_clock::time_point::max(), pred) == WaitEnd::kReady;
}

}  // namespace netfs
