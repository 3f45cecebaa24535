// The `netfs` command line as people expect it of a Unix tool: --version, a --help that
// lists every mount option (from the option table the parser uses), exit status 2 for
// every usage error and 1 for a runtime failure, and messages that name the step that
// failed: name lookup, connect, the 9P version handshake, the attach, authentication.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "fuse/mount_options.h"
#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

class CommandLine : public MountFixture {};

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

TEST_F(CommandLine, VersionAndHelp) {
  auto r = netfs({"--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.output.starts_with("netfs ")) << r.output;
  r = netfs({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(has(r.output, "Exit status")) << r.output;
  r = netfs({"mount", "--help"});
  EXPECT_EQ(r.status, 0);
  // Every option of the table, with its default and range.
  for (const auto& spec : fuse::mount_option_table()) {
    std::string name = "  " + std::string(spec.name) + (fuse::option_value_hint(spec).empty() ? " " : "=");
    size_t at = r.output.find(name);
    ASSERT_NE(at, std::string::npos) << spec.name << " missing from\n" << r.output;
    std::string entry = r.output.substr(at, r.output.find("\n  ", r.output.find('\n', at) + 1) - at);
    EXPECT_TRUE(has(entry, "default: " + fuse::option_default(spec))) << entry;
    EXPECT_TRUE(has(entry, fuse::option_range(spec))) << entry;
  }
}

TEST_F(CommandLine, EveryUsageErrorExitsWithTwo) {
  const std::vector<std::vector<std::string>> usage_errors = {
      {},
      {"no-such-command"},
      {"mount"},
      {"mount", url()},
      {"mount", url(), mnt_, "--no-such-flag"},
      {"mount", url(), mnt_, "extra"},
      {"mount", url(), mnt_, "-o", "no_such_option"},
      {"mount", url(), mnt_, "-o", "msize=1"},
      {"mount", "http://host/x", mnt_},
      {"umount"},
      {"stats"},
      {"stats", "--bogus", mnt_},
  };
  for (const auto& args : usage_errors) {
    auto r = netfs(args);
    std::string line;
    for (auto& a : args) line += a + " ";
    EXPECT_EQ(r.status, 2) << "netfs " << line << "\n" << r.output;
  }
  std::string helper = work_ + "/mount.netfs";
  ASSERT_EQ(::symlink(NETFS_BIN, helper.c_str()), 0);
  EXPECT_EQ(run({helper}).status, 2);
  EXPECT_EQ(run({helper, url(), mnt_, "-o", "bogus"}).status, 2);
}

// A memory budget beyond the machine's RAM is a typo: refused with the option's name.
TEST_F(CommandLine, ValuesBeyondSenseAreRefusedAtMount) {
  auto r = netfs({"mount", url(), mnt_, "-o", "memory=99999T"});
  mounted_ = r.status == 0;  // so that teardown unmounts what old code mounted
  ASSERT_EQ(r.status, 2);
  EXPECT_TRUE(has(r.output, "memory")) << r.output;
  // A log that cannot be opened stops the mount (it used to mount with nowhere to log).
  r = netfs({"mount", url(), mnt_, "-o", "log=/nonexistent/dir/x.log"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(has(r.output, "/nonexistent/dir/x.log")) << r.output;
  mounted_ = r.status == 0;
}

TEST_F(CommandLine, ANameLookupFailureSaysSo) {
  auto r = netfs({"mount", "9p://no-such-host.invalid/x", mnt_});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.output, "cannot resolve host name 'no-such-host.invalid'")) << r.output;
  EXPECT_FALSE(has(r.output, "No route to host")) << r.output;
}

TEST_F(CommandLine, ConnectAndAttachFailuresAreNamed) {
  auto r = netfs({"mount", "9p://127.0.0.1:1/x", mnt_});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.output, "cannot reach 9P server at tcp:127.0.0.1:1: connect: Connection refused")) << r.output;
  r = netfs({"mount", "9p://127.0.0.1:" + std::to_string(diod_->port()) + "/not/exported", mnt_});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.output, "refused export '/not/exported' (attach as user 'root')")) << r.output;
}

// A listener that is not a 9P server: it answers the version handshake with text.
class NotA9PServer {
 public:
  NotA9PServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
      return;
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        const char reply[] = "HTTP/1.0 400 Bad Request\r\n\r\n";
        (void)!send(c, reply, sizeof reply - 1, MSG_NOSIGNAL);
        close(c);
      }
    });
  }
  ~NotA9PServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(CommandLine, AVersionHandshakeFailureIsNotCalledARefusedExport) {
  NotA9PServer fake;
  ASSERT_NE(fake.port(), 0);
  auto r = netfs({"mount", "9p://127.0.0.1:" + std::to_string(fake.port()) + "/x", mnt_, "-o", "timeout=2s"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.output, "version handshake")) << r.output;
  EXPECT_FALSE(has(r.output, "refused export")) << r.output;
}

// diod without -n wants authentication before the attach; the message says that, not
// "refused export".
TEST_F(CommandLine, AServerThatRequiresAuthenticationIsNamedAsSuch) {
  // The fixture's diod runs with -n; this one, on the same export, without.
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(getsockname(s, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  uint16_t port = ntohs(sa.sin_port);
  close(s);
  std::string listen = "127.0.0.1:" + std::to_string(port);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    for (const char* d : {"/usr/sbin/diod", "/usr/bin/diod", "/usr/local/sbin/diod"})
      execl(d, "diod", "-f", "-N", "-L", "stderr", "-l", listen.c_str(), "-e", diod_->dir().c_str(), nullptr);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  // Ready when it accepts a connection (bounded: a diod that never comes up fails the test).
  bool up = false;
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10); !up && std::chrono::steady_clock::now() < end;) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    up = connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    close(c);
    if (!up) {
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) break;
      poll(nullptr, 0, 20);  // the next attempt, not a synchronisation
    }
  }
  if (up) {
    auto r = netfs({"mount", "9p://" + listen + diod_->dir(), mnt_});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(has(r.output, "requires authentication")) << r.output;
    EXPECT_FALSE(has(r.output, "refused export")) << r.output;
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  ASSERT_TRUE(up) << "diod without -n did not come up on " << listen;
}

}  // namespace
}  // namespace netfs::testing
