#include "integration/cutting_proxy.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netfs::testing {

namespace {

constexpr size_t kChunk = 64 << 10;

// Closes with an RST instead of a FIN: the peer's next read or write fails with
// ECONNRESET, and whatever it had not read yet is thrown away.
void reset(int fd) {
  struct linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// One direction of a connection: bytes read from `from` that `to` has not taken yet.
struct Direction {
  int from, to;
  std::vector<char> buf = std::vector<char>(kChunk);
  size_t off = 0, len = 0;
  bool eof = false;
  bool pending() const { return off < len; }
};

}  // namespace

CuttingProxy::CuttingProxy(p9::Endpoint target, uint64_t seed, uint64_t min_bytes, uint64_t max_bytes)
    : target_(std::move(target)), min_bytes_(min_bytes), max_bytes_(max_bytes), rng_(seed) {}

CuttingProxy::~CuttingProxy() { stop(); }

bool CuttingProxy::start() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (listen_fd_ < 0 || stop_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      listen(listen_fd_, 16) != 0 || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    error_ = std::string("proxy: cannot listen on 127.0.0.1: ") + strerror(errno);
    return false;
  }
  port_ = ntohs(sa.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
  return true;
}

void CuttingProxy::stop() {
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> relays;
  {
    std::lock_guard lk(relays_mu_);
    relays.swap(relays_);
  }
  for (auto& t : relays) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
  listen_fd_ = stop_fd_ = -1;
}

uint64_t CuttingProxy::next_budget() {
  std::lock_guard lk(rng_mu_);
  return std::uniform_int_distribution<uint64_t>(min_bytes_, max_bytes_)(rng_);
}

void CuttingProxy::accept_loop() {
  for (;;) {
    pollfd p[2] = {{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[0].revents) return;
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    connections_++;
    uint64_t budget = cutting_.load() ? next_budget() : UINT64_MAX;
    std::lock_guard lk(relays_mu_);
    relays_.emplace_back([this, c, budget] { relay(c, budget); });
  }
}

void CuttingProxy::relay(int client, uint64_t budget) {
  auto up = p9::connect_endpoint(target_, std::chrono::seconds(5));
  if (!up.ok()) {  // the server is down: the client sees its connection fail
    reset(client);
    return;
  }
  int server = *up;
  set_nonblocking(client);
  set_nonblocking(server);
  Direction dirs[2] = {{client, server}, {server, client}};
  for (;;) {
    // Cut once the budget is spent and every byte it allowed has been passed on, so the
    // cut falls exactly `budget` bytes into the connection.
    if (budget == 0 && !dirs[0].pending() && !dirs[1].pending()) {
      reset(client);
      reset(server);
      cuts_++;
      return;
    }
    if (dirs[0].eof && dirs[1].eof && !dirs[0].pending() && !dirs[1].pending()) break;
    pollfd p[3] = {{stop_fd_, POLLIN, 0}, {client, 0, 0}, {server, 0, 0}};
    auto slot = [&](int fd) -> pollfd& { return fd == client ? p[1] : p[2]; };
    for (Direction& d : dirs) {
      if (d.pending())
        slot(d.to).events |= POLLOUT;
      else if (!d.eof && budget > 0)
        slot(d.from).events |= POLLIN;
    }
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents) break;  // stop()
    bool failed = false, progressed = false;
    for (Direction& d : dirs) {
      short in = slot(d.from).revents, out = slot(d.to).revents;
      if (d.pending() && (out & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t n = send(d.to, d.buf.data() + d.off, d.len - d.off, MSG_NOSIGNAL);
        if (n > 0) {
          d.off += static_cast<size_t>(n);
          progressed = true;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR)
          failed = true;
      } else if (!d.pending() && !d.eof && budget > 0 && (in & (POLLIN | POLLERR | POLLHUP))) {
        size_t want = budget < kChunk ? static_cast<size_t>(budget) : kChunk;
        ssize_t n = recv(d.from, d.buf.data(), want, 0);
        if (n > 0) {
          d.off = 0;
          d.len = static_cast<size_t>(n);
          budget -= static_cast<uint64_t>(n);
          bytes_ += static_cast<uint64_t>(n);
          progressed = true;
        } else if (n == 0) {
          d.eof = true;
          progressed = true;
          shutdown(d.to, SHUT_WR);
        } else if (errno != EAGAIN && errno != EINTR) {
          failed = true;
        }
      }
    }
    // A hang-up on a socket this round could not act on would wake poll at once for ever.
    if (!progressed && ((p[1].revents | p[2].revents) & (POLLERR | POLLHUP | POLLNVAL))) failed = true;
    if (failed) {  // one side reset or broke: the other learns it the same way
      reset(client);
      reset(server);
      return;
    }
  }
  close(client);
  close(server);
}

}  // namespace netfs::testing
