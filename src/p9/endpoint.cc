#include "p9/endpoint.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace netfs::p9 {

Result<Endpoint> Endpoint::parse(std::string_view s) {
  if (s.starts_with("unix:")) {
    s.remove_prefix(5);
    if (s.empty()) return make_error(EINVAL, "9P endpoint: empty unix socket path");
    return unix_socket(std::string(s));
  }
  if (s.starts_with("tcp:")) s.remove_prefix(4);
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return make_error(EINVAL, "9P endpoint: expected HOST:PORT");
  std::string_view host = s.substr(0, colon), port = s.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
    return make_error(EINVAL, "9P endpoint: bad port");
  return tcp(std::string(host), static_cast<uint16_t>(p));
}

std::string Endpoint::to_string() const {
  if (kind == Kind::kUnix) return "unix:" + path;
  return "tcp:" + host + ":" + std::to_string(port);
}

namespace {

// Connects fd to addr, waiting at most `timeout`; leaves fd blocking.
Status connect_with_timeout(int fd, const sockaddr* addr, socklen_t len, std::chrono::milliseconds timeout) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return make_error(errno, "9P connect: fcntl");
  if (connect(fd, addr, len) < 0) {
    if (errno != EINPROGRESS) return make_error(errno, "9P connect");
    pollfd p{fd, POLLOUT, 0};
    int n;
    do n = poll(&p, 1, static_cast<int>(timeout.count()));
    while (n < 0 && errno == EINTR);
    if (n < 0) return make_error(errno, "9P connect: poll");
    if (n == 0) return make_error(ETIMEDOUT, "9P connect");
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) return make_error(errno, "9P connect: getsockopt");
    if (err) return make_error(err, "9P connect");
  }
  if (fcntl(fd, F_SETFL, fl) < 0) return make_error(errno, "9P connect: fcntl");
  return ok_status();
}

}  // namespace

Result<int> connect_endpoint(const Endpoint& ep, std::chrono::milliseconds timeout) {
  if (ep.kind == Endpoint::Kind::kUnix) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (ep.path.size() >= sizeof sa.sun_path) return make_error(ENAMETOOLONG, "9P connect: unix socket path");
    std::memcpy(sa.sun_path, ep.path.data(), ep.path.size());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(errno, "9P connect: socket");
    Status st = connect_with_timeout(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa, timeout);
    if (!st.ok()) {
      close(fd);
      return st.error();
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  std::string port = std::to_string(ep.port);
  if (int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return make_error(rc == EAI_SYSTEM ? errno : EHOSTUNREACH, "9P connect: address lookup");
  Error last = make_error(EHOSTUNREACH, "9P connect: no address");
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = make_error(errno, "9P connect: socket");
      continue;
    }
    Status st = connect_with_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout);
    if (st.ok()) {
      int one = 1;
      // Small requests (Tclunk, Tgetattr) must not wait behind Nagle for a pipelined peer.
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      freeaddrinfo(res);
      return fd;
    }
    last = st.error();
    close(fd);
  }
  freeaddrinfo(res);
  return last;
}

}  // namespace netfs::p9
