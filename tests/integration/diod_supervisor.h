// DiodSupervisor: what systemd's Restart=always does for a production diod, for tests:
// it restarts a DiodServer on the same address when the process dies (diod 1.0.24
// segfaults when a connection is reset in the middle of a message), and also when it
// lives but stops answering a Tversion on a fresh connection within probe_timeout
// (then it is killed first). It waits on the process with a pidfd, so a crash is seen at
// once; the liveness probe runs every probe_every.
//
// Threading: while the supervisor runs it is the only user of the DiodServer's
// start/kill/reap (dir(), port() and endpoint() stay safe to read: they never change).
// The counters may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "integration/diod_server.h"

namespace netfs::testing {

class DiodSupervisor {
 public:
  DiodSupervisor(DiodServer& diod, std::chrono::milliseconds probe_every = std::chrono::seconds(1),
                 std::chrono::milliseconds probe_timeout = std::chrono::seconds(5));
  ~DiodSupervisor();
  DiodSupervisor(const DiodSupervisor&) = delete;
  DiodSupervisor& operator=(const DiodSupervisor&) = delete;

  void start();
  void stop();  // joins; diod is left running (or not, if its last restart failed)

  uint64_t crashes() const { return crashes_.load(); }        // died by a signal
  uint64_t exits() const { return exits_.load(); }            // exited by itself
  uint64_t hangs() const { return hangs_.load(); }            // killed for not answering
  uint64_t restarts() const { return restarts_.load(); }      // started again, answering
  uint64_t restart_failures() const { return restart_failures_.load(); }
  std::string last_error() const;  // why the last restart failed

  // True if diod answers a Tversion on a fresh connection within `timeout`.
  static bool answers_version(const p9::Endpoint& ep, std::chrono::milliseconds timeout);

 private:
  void loop();
  void start_again();

  DiodServer& diod_;
  const std::chrono::milliseconds probe_every_, probe_timeout_;
  int stop_fd_ = -1;  // an eventfd, readable once stop() is called
  std::thread thread_;
  std::atomic<uint64_t> crashes_{0}, exits_{0}, hangs_{0}, restarts_{0}, restart_failures_{0};
  mutable std::mutex error_mu_;
  std::string last_error_;  // error_mu_
};

}  // namespace netfs::testing
