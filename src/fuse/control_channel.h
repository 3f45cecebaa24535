// Control channel: how `netfs stats|trace|umount` reach a running mount. Each mount
// listens on a Unix stream socket under /run/netfs/ (or $XDG_RUNTIME_DIR/netfs, or
// /tmp/netfs-UID, whichever is writable first) named for its mountpoint, so nothing
// appears inside the mounted tree: not in readdir, not in fsx's files, not in tar. The
// socket is mode 0600: only its owner (root) may ask.
//
// Protocol: the client sends one line (a command), the server writes the whole answer and
// closes. The first line of an answer is "OK" or "ERR <errno> <message>".
//   info            pid, remote, mountpoint
//   stats | stats json
//   trace AFTER     trace records with seq > AFTER, then a last line "seq N"
//   sync            write back all dirty data; lists files that could not be written
//
// Threading: ControlServer runs one thread that serves one client at a time (commands are
// short; sync is the longest). request() is a blocking function.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "netfs/result.h"

namespace netfs::fuse {

// The socket path for a mountpoint (which should already be canonical: realpath).
std::string control_socket_path(const std::string& mountpoint);
// The directory control sockets live in (created on demand).
std::string control_dir();

class ControlServer {
 public:
  using Handler = std::function<std::string(std::string_view command)>;
  ControlServer() = default;
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds path (replacing a stale socket nobody answers on) and starts serving.
  Status start(const std::string& path, Handler handler);
  void stop();

 private:
  void run();

  std::string path_;
  Handler handler_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::thread thread_;
};

// Sends one command to the mount at `mountpoint` and returns the answer after "OK";
// an "ERR" answer becomes its errno with *why set to the message.
Result<std::string> control_request(const std::string& mountpoint, std::string_view command, std::string* why,
                                    int timeout_ms = 600000);

}  // namespace netfs::fuse
