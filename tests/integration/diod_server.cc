#include "integration/diod_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace netfs::testing {

namespace {

// A port the kernel just handed out and nobody holds; diod binds it a moment later.
uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0)
    port = ntohs(sa.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

const char* diod_path() {
  for (const char* p : {"/usr/sbin/diod", "/usr/bin/diod", "/usr/local/sbin/diod"})
    if (access(p, X_OK) == 0) return p;
  return nullptr;
}

}  // namespace

DiodServer::DiodServer(Transport t, const std::string& parent) : transport_(t) {
  std::string tmpl = parent + "/netfs-diod-XXXXXX";
  if (mkdtemp(tmpl.data())) workdir_ = tmpl;
  dir_ = workdir_ + "/export";
  std::filesystem::create_directory(dir_);
  if (t == Transport::kUnix)
    ep_ = p9::Endpoint::unix_socket(workdir_ + "/diod.sock");
  else
    ep_ = p9::Endpoint::tcp("127.0.0.1", free_port());
}

DiodServer::~DiodServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st;
    waitpid(pid_, &st, 0);
  }
  std::error_code ec;
  if (!workdir_.empty()) std::filesystem::remove_all(workdir_, ec);
}

bool DiodServer::start() {
  const char* diod = diod_path();
  if (!diod) {
    error_ = "diod is not installed (apt-get install diod)";
    return false;
  }
  std::string listen = transport_ == Transport::kUnix ? ep_.path : "127.0.0.1:" + std::to_string(ep_.port);
  if (transport_ == Transport::kUnix) unlink(ep_.path.c_str());
  std::string log = workdir_ + "/diod.log";
  pid_t pid = fork();
  if (pid < 0) {
    error_ = "fork failed";
    return false;
  }
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    // Nothing of the test's (sockets of a test's proxy, ...) stays open in diod.
    close_range(3, ~0U, 0);
    signal(SIGPIPE, sigpipe_ignored_ ? SIG_IGN : SIG_DFL);
    if (fd_limit_) {
      struct rlimit rl{fd_limit_, fd_limit_};
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(126);
    }
    // -f foreground, -n no auth, -N no user database (we run as whoever we are), -L
    // stderr so a failing test can show the log.
    execl(diod, "diod", "-f", "-n", "-N", "-L", "stderr", "-l", listen.c_str(), "-e", dir_.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  if (!wait_ready(std::chrono::seconds(10))) {
    std::ifstream in(log);
    std::string log_text(std::istreambuf_iterator<char>(in), {});
    // The log is appended to by every start: its end is this start's.
    if (log_text.size() > 2000) log_text = "..." + log_text.substr(log_text.size() - 2000);
    error_ = "diod did not start (" + (exit_note_.empty() ? "no answer within 10 s" : exit_note_) + "): " + log_text;
    exit_note_.clear();
    return false;
  }
  return true;
}

bool DiodServer::wait_ready(std::chrono::milliseconds limit) {
  // Readiness of another process can only be observed by trying: connect until it
  // answers, bounded by `limit`, and stop early if diod exited.
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      exit_note_ = WIFSIGNALED(st) ? "diod died of signal " + std::to_string(WTERMSIG(st))
                                   : "diod exited with status " + std::to_string(WEXITSTATUS(st));
      return false;
    }
    auto fd = p9::connect_endpoint(ep_, std::chrono::milliseconds(200));
    if (fd.ok()) {
      close(*fd);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void DiodServer::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st;
  waitpid(pid_, &st, 0);
  pid_ = -1;
}

bool DiodServer::reap(int* status) {
  if (pid_ <= 0) return false;
  if (waitpid(pid_, status, WNOHANG) != pid_) return false;
  pid_ = -1;
  return true;
}

std::vector<std::byte> DiodServer::file(const std::string& rel) const {
  std::ifstream in(dir_ + "/" + rel, std::ios::binary);
  std::vector<char> v((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::byte> out(v.size());
  std::memcpy(out.data(), v.data(), v.size());
  return out;
}

}  // namespace netfs::testing
