// Control channel: how `netfs stats|trace|cache|umount` reach a running mount. Each mount
// listens on a Unix stream socket under /run/netfs/ (or $XDG_RUNTIME_DIR/netfs, or
// /tmp/netfs-UID, whichever is writable first) named for its mountpoint, so nothing
// appears inside the mounted tree: not in readdir, not in fsx's files, not in tar. The
// socket is mode 0600: only its owner (root) may ask.
//
// Protocol: the client sends one line (a command), the server writes the answer and
// closes. The first line of an answer is "OK" or "ERR <errno> <message>".
//   info            pid, remote, mountpoint
//   stats | stats json | stats prometheus
//   trace AFTER     trace records with seq > AFTER, then a last line "seq N"
//   cache | cache drop
//   sync            write back all dirty data; lists files that could not be written
//   umount          the unmount drain (UnmountDrain): "wait ..." lines while it runs,
//                   then its outcome; a second umount joins the running drain
//
// Threading: ControlServer accepts on one thread and serves each connection on a thread
// of its own (at most kMaxConnections at once; more are refused with EBUSY), so a long
// request (sync, umount) never keeps stats, trace or a second umount from an answer. A
// handler runs on its connection's thread and may stream its answer through
// ControlReply. control_request() and control_stream() are blocking functions.
#pragma once

#include <atomic>
#include <cerrno>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "netfs/result.h"

namespace netfs::fuse {

// The socket path for a mountpoint (which should already be canonical: realpath).
std::string control_socket_path(const std::string& mountpoint);
// The directory control sockets live in (created on demand).
std::string control_dir();

// A handler's way to its client, for answers that come in parts (progress lines).
class ControlReply {
 public:
  ControlReply(int fd, const std::atomic<bool>* stopping) : fd_(fd), stopping_(stopping) {}
  // Sends s now; false once the client has gone or the server is stopping.
  bool send(std::string_view s);
  // The server is stopping: a handler that waits should return soon.
  bool stopping() const { return stopping_->load(); }

 private:
  int fd_;
  const std::atomic<bool>* stopping_;
};

class ControlServer {
 public:
  // Returns the (rest of the) answer, sent after whatever it sent through reply.
  using Handler = std::function<std::string(std::string_view command, ControlReply& reply)>;
  static constexpr size_t kMaxConnections = 16;
  ControlServer() = default;
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds path (replacing a stale socket nobody answers on) and starts serving.
  Status start(const std::string& path, Handler handler);
  // Stops accepting, cuts every connection (handlers see stopping() and failing sends)
  // and waits for their threads.
  void stop();

 private:
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void run();
  void serve(Connection& c);
  // Joins and forgets connections whose handler has returned. Requires mu_.
  void reap_locked();

  std::string path_;
  Handler handler_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mu_;
  std::list<Connection> connections_;  // under mu_
};

// Sends one command to the mount at `mountpoint` and returns the answer after "OK";
// an "ERR" answer becomes its errno with *why set to the message. Errors: the connect's
// errno when nobody listens (ENOENT: no socket, ECONNREFUSED: a socket nobody serves),
// ESRCH when the daemon that listened has exited without an answer, ETIMEDOUT when a
// live daemon sent nothing for timeout_ms, EPROTO when it closed without an answer.
Result<std::string> control_request(const std::string& mountpoint, std::string_view command, std::string* why,
                                    int timeout_ms = 600000);
// The same, handing each line of the answer after "OK" to on_line as it arrives (without
// its newline); timeout_ms bounds the silence between two parts, not the whole answer.
Status control_stream(const std::string& mountpoint, std::string_view command,
                      const std::function<void(std::string_view line)>& on_line, std::string* why,
                      int timeout_ms);
// Whether err (from control_request/control_stream) means no daemon listens at all.
inline bool nobody_listens(int err) { return err == ENOENT || err == ECONNREFUSED || err == ESRCH; }

}  // namespace netfs::fuse
