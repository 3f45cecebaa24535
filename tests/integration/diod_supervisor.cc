#include "integration/diod_supervisor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace netfs::testing {

DiodSupervisor::DiodSupervisor(DiodServer& diod, std::chrono::milliseconds probe_every,
                               std::chrono::milliseconds probe_timeout)
    : diod_(diod), probe_every_(probe_every), probe_timeout_(probe_timeout) {}

DiodSupervisor::~DiodSupervisor() { stop(); }

void DiodSupervisor::start() {
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { loop(); });
}

void DiodSupervisor::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
  thread_.join();
  close(stop_fd_);
  stop_fd_ = -1;
}

std::string DiodSupervisor::last_error() const {
  std::lock_guard lk(error_mu_);
  return last_error_;
}

void DiodSupervisor::start_again() {
  if (diod_.start()) {
    restarts_++;
    fprintf(stderr, "supervisor: diod restarted as pid %d\n", diod_.pid());
    return;
  }
  restart_failures_++;
  fprintf(stderr, "supervisor: restarting diod failed: %s\n", diod_.error().c_str());
  std::lock_guard lk(error_mu_);
  last_error_ = diod_.error();
}

void DiodSupervisor::loop() {
  auto next_probe = std::chrono::steady_clock::now() + probe_every_;
  for (;;) {
    int pidfd = diod_.pid() > 0 ? static_cast<int>(syscall(SYS_pidfd_open, diod_.pid(), 0)) : -1;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_probe - std::chrono::steady_clock::now());
    // With no diod (its last start failed) try again after a pause rather than at once.
    if (pidfd < 0) wait = std::chrono::milliseconds(100);
    pollfd p[2] = {{stop_fd_, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int n = poll(p, pidfd >= 0 ? 2 : 1, wait.count() > 0 ? static_cast<int>(wait.count()) : 0);
    if (pidfd >= 0) close(pidfd);
    if (n > 0 && p[0].revents) return;
    int status = 0;
    if (diod_.reap(&status)) {
      (WIFSIGNALED(status) ? crashes_ : exits_)++;
      fprintf(stderr, "supervisor: diod %s %d\n", WIFSIGNALED(status) ? "died of signal" : "exited with status",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      start_again();
      continue;
    }
    if (diod_.pid() <= 0) {
      start_again();
      continue;
    }
    if (std::chrono::steady_clock::now() >= next_probe) {
      if (!answers_version(diod_.endpoint(), probe_timeout_)) {
        hangs_++;
        fprintf(stderr, "supervisor: diod pid %d answers no Tversion; killing it\n", diod_.pid());
        diod_.kill_hard();
        start_again();
      }
      next_probe = std::chrono::steady_clock::now() + probe_every_;
    }
  }
}

bool DiodSupervisor::answers_version(const p9::Endpoint& ep, std::chrono::milliseconds timeout) {
  auto fd = p9::connect_endpoint(ep, timeout);
  if (!fd.ok()) return false;
  // Tversion: size[4] type[1]=100 tag[2]=NOTAG msize[4] version[s], little-endian.
  const char version[] = "9P2000.L";
  unsigned char msg[64];
  size_t len = 4 + 1 + 2 + 4 + 2 + (sizeof version - 1);
  auto put = [&](size_t at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) msg[at + i] = static_cast<unsigned char>(v >> (8 * i));
  };
  put(0, len, 4);
  put(4, 100, 1);
  put(5, 0xffff, 2);
  put(7, 8192, 4);
  put(11, sizeof version - 1, 2);
  std::memcpy(msg + 13, version, sizeof version - 1);
  bool ok = send(*fd, msg, len, MSG_NOSIGNAL) == static_cast<ssize_t>(len);
  // The reply's first 7 bytes: size[4] type[1] tag[2]; Rversion is 101.
  unsigned char head[7];
  size_t got = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ok && got < sizeof head) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{*fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      ok = false;
      break;
    }
    ssize_t n = recv(*fd, head + got, sizeof head - got, 0);
    if (n <= 0) ok = false;
    else got += static_cast<size_t>(n);
  }
  close(*fd);
  return ok && head[4] == 101;
}

}  // namespace netfs::testing
