// UnmountDrain: the write-back `netfs umount` waits for before it unmounts, run once on a
// thread of its own however many umounts ask. The first umount starts a round; an umount
// that comes while it runs joins it, and every one of them gets the same outcome, so two
// umounts never race two write-backs or report different things. A round ends when its
// run function returns; the next umount starts a new one.
//
// Threading: join() from any number of threads (the control channel's connections); it
// blocks until the round's outcome, calling `waiting` every `every` meanwhile so that a
// caller can report progress or give up. wait_idle() and the destructor wait for a
// running round to end.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace netfs::fuse {

class UnmountDrain {
 public:
  // run: one round (write back everything); returns its outcome as text for the clients.
  explicit UnmountDrain(std::function<std::string()> run) : run_(std::move(run)) {}
  ~UnmountDrain() { wait_idle(); }
  UnmountDrain(const UnmountDrain&) = delete;
  UnmountDrain& operator=(const UnmountDrain&) = delete;

  // Joins the running round or starts one, tells `started` which (true: joined), and
  // returns the round's outcome; nothing if `waiting` returned false first (the round
  // goes on without this caller).
  std::optional<std::string> join(std::chrono::milliseconds every, const std::function<bool()>& waiting,
                                  const std::function<void(bool joined)>& started = {});
  // Waits for a running round to end (before what it uses goes away).
  void wait_idle();

 private:
  struct Round {
    bool done = false;
    std::string outcome;
  };

  std::function<std::string()> run_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<Round> current_;  // under mu_: the running round, if any
  std::thread thread_;              // under mu_: the last round's thread
};

}  // namespace netfs::fuse
