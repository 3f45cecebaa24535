#include "fuse/control_channel.h"

#include <fcntl.h>
#include <poll.h>
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
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

void ControlServer::stop() {
  if (!thread_.joinable()) return;
  char c = 1;
  (void)!::write(stop_pipe_[1], &c, 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
  listen_fd_ = -1;
  ::unlink(path_.c_str());
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
    // One line, bounded: a command is short.
    std::string line;
    char buf[256];
    while (line.find('\n') == std::string::npos && line.size() < 4096) {
      pollfd q{fd, POLLIN, 0};
      if (::poll(&q, 1, 5000) <= 0) break;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    if (auto nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
    (void)write_all(fd, handler_(line));
    ::close(fd);
  }
}

Result<std::string> control_request(const std::string& mountpoint, std::string_view command, std::string* why,
                                    int timeout_ms) {
  std::string path = control_socket_path(mountpoint);
  auto fd = connect_unix(path);
  if (!fd.ok()) {
    if (why) *why = "no netfs mount answers at " + mountpoint + " (control socket " + path + ": " +
                    std::strerror(fd.errnum()) + ")";
    return fd.error();
  }
  std::string req(command);
  req.push_back('\n');
  std::string out;
  if (write_all(*fd, req)) {
    char buf[65536];
    for (;;) {
      pollfd q{*fd, POLLIN, 0};
      int pr = ::poll(&q, 1, timeout_ms);
      if (pr < 0 && errno == EINTR) continue;
      if (pr <= 0) break;
      ssize_t n = ::recv(*fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(*fd);
  if (out.starts_with("OK\n")) return out.substr(3);
  if (out.starts_with("ERR ")) {
    int e = std::atoi(out.c_str() + 4);
    auto sp = out.find(' ', 4);
    if (why) *why = sp == std::string::npos ? out : out.substr(sp + 1);
    while (why && !why->empty() && why->back() == '\n') why->pop_back();
    return make_error(e > 0 ? e : EIO, "control");
  }
  if (why) *why = "the mount at " + mountpoint + " gave no answer";
  return make_error(EPROTO, "control");
}

}  // namespace netfs::fuse
