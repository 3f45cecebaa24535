#include "netfs/cancel.h"

#include <cassert>
#include <thread>

namespace netfs {

namespace {
thread_local Cancel* t_current = nullptr;
}  // namespace

Cancel* Cancel::current() { return t_current; }

bool Cancel::current_requested() { return t_current && t_current->requested(); }

Cancel::Scope::Scope(Cancel& c) : prev_(t_current) { t_current = &c; }

Cancel::Scope::~Scope() { t_current = prev_; }

Cancel::Watch::Watch(Cancel& c, std::mutex& mu, std::condition_variable& cv) : c_(c) {
  std::lock_guard lk(c_.mu_);
  assert(!c_.wait_mu_);
  c_.wait_mu_ = &mu;
  c_.wait_cv_ = &cv;
}

Cancel::Watch::~Watch() {
  std::lock_guard lk(c_.mu_);
  c_.wait_mu_ = nullptr;
  c_.wait_cv_ = nullptr;
}

void Cancel::request() {
  requested_.store(true, std::memory_order_release);
  for (;;) {
    std::unique_lock lk(mu_);
    if (!wait_mu_) return;  // no wait registered: the next one sees the flag first
    // The waiter holds its mutex while it checks the flag and until cv.wait lets go of
    // it, so taking it here means the waiter either waits already (and is woken) or has
    // yet to check (and sees the flag). Only a try: the waiter takes mu_ with its mutex
    // held (Watch), so blocking here could deadlock.
    if (wait_mu_->try_lock()) {
      wait_mu_->unlock();
      wait_cv_->notify_all();
      return;
    }
    lk.unlock();
    std::this_thread::yield();
  }
}

}  // namespace netfs
