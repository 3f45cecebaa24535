// DiodServer: a real diod serving a fresh temporary directory on 127.0.0.1 (a free port
// per instance) or on a Unix socket, for integration tests. It is started and stopped by
// PID (never by name), can be killed and restarted on the same address, and is torn
// down with its directory when the object goes away, also when a test fails.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>

#include <chrono>
#include <string>
#include <vector>

#include "p9/endpoint.h"

namespace netfs::testing {

class DiodServer {
 public:
  enum class Transport { kTcp, kUnix };
  // parent: where the temporary export directory is made (/tmp by default; the
  // benchmark uses /dev/shm to take the disk out of the measurement).
  explicit DiodServer(Transport t = Transport::kTcp, const std::string& parent = "/tmp");
  ~DiodServer();
  DiodServer(const DiodServer&) = delete;
  DiodServer& operator=(const DiodServer&) = delete;

  // The descriptors diod may have open (RLIMIT_NOFILE, as `ulimit -n` before starting
  // it); 0 (the default): inherited. Takes effect at the next start().
  void set_fd_limit(uint64_t n) { fd_limit_ = n; }
  // Start diod with SIGPIPE ignored, as systemd starts a service (IgnoreSIGPIPE=yes);
  // by default it keeps the disposition a shell gives it (SIGPIPE kills). Takes effect
  // at the next start().
  void set_sigpipe_ignored(bool on) { sigpipe_ignored_ = on; }
  // False (with a message in error()) if diod is missing or did not come up.
  bool start();
  // SIGKILL, as a crash would: the connection breaks without any goodbye.
  void kill_hard();
  bool restart() {
    kill_hard();
    return start();
  }
  // Collects diod if it has exited by itself (a crash): true then, with its wait status
  // in *status, and start() may be called again. False while it runs. Never blocks.
  bool reap(int* status);

  const std::string& dir() const { return dir_; }  // the exported directory
  p9::Endpoint endpoint() const { return ep_; }
  uint16_t port() const { return ep_.port; }
  const std::string& error() const { return error_; }
  pid_t pid() const { return pid_; }

  // Bytes of a file in the exported directory, read directly.
  std::vector<std::byte> file(const std::string& rel) const;

 private:
  bool wait_ready(std::chrono::milliseconds limit);

  Transport transport_;
  std::string dir_;      // the export
  std::string workdir_;  // dir_'s parent: also holds the log and the unix socket
  p9::Endpoint ep_;
  pid_t pid_ = -1;
  uint64_t fd_limit_ = 0;
  bool sigpipe_ignored_ = false;
  std::string error_;
  std::string exit_note_;  // how a diod that exited while starting ended
};

}  // namespace netfs::testing
