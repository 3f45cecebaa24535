#include "fuse/unmount_drain.h"

namespace netfs::fuse {

std::optional<std::string> UnmountDrain::join(std::chrono::milliseconds every, const std::function<bool()>& waiting,
                                              const std::function<void(bool joined)>& started) {
  std::unique_lock lk(mu_);
  std::shared_ptr<Round> r = current_;
  bool joined = r != nullptr;
  if (!r) {
    // The previous round's thread has finished (it cleared current_ last, under mu_).
    if (thread_.joinable()) thread_.join();
    r = current_ = std::make_shared<Round>();
    thread_ = std::thread([this, r] {
      std::string out = run_();
      std::lock_guard g(mu_);
      r->outcome = std::move(out);
      r->done = true;
      current_.reset();
      cv_.notify_all();
    });
  }
  if (started) {
    lk.unlock();
    started(joined);
    lk.lock();
  }
  while (!cv_.wait_for(lk, every, [&] { return r->done; })) {
    lk.unlock();
    bool go_on = waiting();
    lk.lock();
    if (!go_on && !r->done) return std::nullopt;
  }
  return r->outcome;
}

void UnmountDrain::wait_idle() {
  std::thread t;
  {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return !current_; });
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

}  // namespace netfs::fuse
