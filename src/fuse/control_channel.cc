#include "fuse/control_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace netfs::fuse {

namespace {

bool usable_dir(const std::string& d) {
  ::mkdir(d.c_str(), 0700);
  return access(d.c_str(), W_OK | X_OK) == 0;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

Result<int> connect_unix(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return make_error(ENAMETOOLONG, "control socket path");
  std::memcpy(sa.sun_path, path.c_str(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(errno, "control socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    int e = errno;
    ::close(fd);
    return make_error(e, "control connect");
  }
  return fd;
}

// Whether pid has exited (a zombie has: only its parent has not collected it yet).
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return true;
  char state = 0;
  // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, the last ')' ends it.
  char buf[512];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  if (const char* close = std::strrchr(buf, ')'); close && close[1] == ' ') state = close[2];
  return state == 'Z' || state == 'X';
}

}  // namespace

std::string control_dir() {
  if (usable_dir("/run/netfs")) return "/run/netfs";
  if (const char* x = getenv("XDG_RUNTIME_DIR"); x && *x && usable_dir(std::string(x) + "/netfs"))
    return std::string(x) + "/netfs";
  std::string t = "/tmp/netfs-" + std::to_string(getuid());
  usable_dir(t);
  return t;
}

std::string control_socket_path(const std::string& mountpoint) {
  // Readable (the mountpoint with '/' as '-') and unique (a hash of the whole path), and
  // short enough for sun_path whatever the mountpoint's length.
  std::string name;
  for (char c : mountpoint) {
    if (name.size() >= 40) break;
    name.push_back(c == '/' ? '-' : (isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_') ? c : '_');
  }
  while (!name.empty() && name.front() == '-') name.erase(0, 1);
  char hash[17];
  snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(mountpoint)));
  return control_dir() + "/" + (name.empty() ? "root" : name) + "." + std::string(hash, 8) + ".sock";
}

ControlServer::~ControlServer() { stop(); }

bool ControlReply::send(std::string_view s) { return !stopping_->load() && write_all(fd_, s); }

Status ControlServer::start(const std::string& path, Handler handler) {
  path_ = path;
  handler_ = std::move(handler);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return make_error(ENAMETOOLONG, "control socket path");
  std::memcpy(sa.sun_path, path.c_str(), path.size());
  auto live = connect_unix(path);
  if (live.ok()) {
    ::close(*live);
    return make_error(EBUSY, "control socket: another mount answers on it");
  }
  ::unlink(path.c_str());  // stale: its daemon is gone
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return make_error(errno, "control socket");
  mode_t old = ::umask(077);
  int b = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (b < 0 || ::listen(listen_fd_, 8) < 0 || ::pipe2(stop_pipe_, O_CLOEXEC) < 0) {
    int e = errno;
    ::close(listen_fd_);
    listen_fd_ = -1;
    return make_error(e, "control socket bind");
  }
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

void ControlServer::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  char c = 1;
  (void)!::write(stop_pipe_[1], &c, 1);
  thread_.join();
  // No new connection can come now. Cutting the sockets ends a handler's pending send and
  // a client's wait; a handler that waits for something else polls stopping().
  std::list<Connection> conns;
  {
    std::lock_guard lk(mu_);
    conns.swap(connections_);
  }
  for (auto& c : conns) ::shutdown(c.fd, SHUT_RDWR);
  for (auto& c : conns) {
    c.thread.join();
    ::close(c.fd);
  }
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
  listen_fd_ = -1;
  ::unlink(path_.c_str());
}

void ControlServer::reap_locked() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (!it->done.load()) {
      ++it;
      continue;
    }
    it->thread.join();
    ::close(it->fd);
    it = connections_.erase(it);
  }
}

void ControlServer::run() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lk(mu_);
    reap_locked();
    if (connections_.size() >= kMaxConnections) {
      (void)write_all(fd, "ERR " + std::to_string(EBUSY) + " too many control requests at once (" +
                              std::to_string(kMaxConnections) + "); try again\n");
      ::close(fd);
      continue;
    }
    Connection& c = connections_.emplace_back();
    c.fd = fd;
    c.thread = std::thread([this, &c] { serve(c); });
  }
}

void ControlServer::serve(Connection& c) {
  // One line, bounded: a command is short.
  std::string line;
  char buf[256];
  while (line.find('\n') == std::string::npos && line.size() < 4096 && !stopping_.load()) {
    pollfd q{c.fd, POLLIN, 0};
    if (::poll(&q, 1, 5000) <= 0) break;
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  if (auto nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
  ControlReply reply(c.fd, &stopping_);
  std::string rest = handler_(line, reply);
  (void)reply.send(rest);
  // The socket stays open until the thread is joined (reap_locked, stop), so that stop()
  // never shuts down a descriptor number that a later accept reused.
  ::shutdown(c.fd, SHUT_RDWR);
  c.done = true;
}

Status control_stream(const std::string& mountpoint, std::string_view command,
                      const std::function<void(std::string_view line)>& on_line, std::string* why,
                      int timeout_ms) {
  std::string path = control_socket_path(mountpoint);
  auto fd = connect_unix(path);
  if (!fd.ok()) {
    if (why) *why = "no netfs daemon listens for " + mountpoint + " (control socket " + path + ": " +
                    std::strerror(fd.errnum()) + ")";
    return fd.error();
  }
  // Who listens: the daemon's pid, so that silence can be told apart from death.
  ucred peer{};
  socklen_t peer_len = sizeof peer;
  if (::getsockopt(*fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) != 0) peer.pid = 0;
  std::string daemon = "the netfs daemon" + (peer.pid > 0 ? " (pid " + std::to_string(peer.pid) + ")" : std::string()) +
                       " of " + mountpoint;
  std::string req(command);
  req.push_back('\n');
  // pending: what has arrived and is not yet a whole line; first: the "OK"/"ERR" line.
  std::string pending, first;
  bool have_first = false, timed_out = false;
  auto take_lines = [&] {
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string l = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!have_first) {
        first = std::move(l);
        have_first = true;
        if (first != "OK") return;  // an error: the rest is its message
      } else {
        on_line(l);
      }
    }
  };
  // Read the answer even if the send failed: a server that refuses (EBUSY) answers and
  // closes without reading the command.
  (void)write_all(*fd, req);
  {
    char buf[65536];
    for (;;) {
      pollfd q{*fd, POLLIN, 0};
      int pr = ::poll(&q, 1, timeout_ms);
      if (pr < 0 && errno == EINTR) continue;
      if (pr == 0) timed_out = true;
      if (pr <= 0) break;
      ssize_t n = ::recv(*fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buf, static_cast<size_t>(n));
      if (!have_first || first == "OK") take_lines();
    }
  }
  ::close(*fd);
  if (have_first && first == "OK") {
    if (!pending.empty()) on_line(pending);  // a last line without its newline
    if (!timed_out) return ok_status();
  }
  if (have_first && first.starts_with("ERR ")) {
    int e = std::atoi(first.c_str() + 4);
    auto sp = first.find(' ', 4);
    std::string msg = (sp == std::string::npos ? first : first.substr(sp + 1)) + (pending.empty() ? "" : "\n" + pending);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    if (why) *why = msg;
    return make_error(e > 0 ? e : EIO, "control");
  }
  if (peer.pid > 0 && process_gone(peer.pid)) {
    if (why) *why = daemon + " has exited";
    return make_error(ESRCH, "control");
  }
  if (timed_out) {
    if (why) *why = daemon + " sent nothing for " + std::to_string(timeout_ms / 1000) + " s";
    return make_error(ETIMEDOUT, "control");
  }
  if (why) *why = daemon + " closed the control connection without an answer";
  return make_error(EPROTO, "control");
}

Result<std::string> control_request(const std::string& mountpoint, std::string_view command, std::string* why,
                                    int timeout_ms) {
  std::string out;
  Status st = control_stream(
      mountpoint, command,
      [&](std::string_view l) {
        out.append(l);
        out.push_back('\n');
      },
      why, timeout_ms);
  if (!st.ok()) return st.error();
  return out;
}

}  // namespace netfs::fuse
