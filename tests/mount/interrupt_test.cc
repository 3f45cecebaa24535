// A caller blocked on a server that does not answer is interruptible (issue 15): with diod
// stopped (SIGSTOP: the connection stays up and nothing answers, so a call would wait the
// whole -o timeout of 60 s, and its Tflush another), fsync, write and close in this
// process or a child end at a signal (a handler without SA_RESTART gets EINTR, SIGKILL
// kills the child) within a few seconds, and once diod runs again every byte written
// reaches it.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "fakes/eventually.h"
#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Well under the mount's timeout (60 s): a call that waited for the server would miss it.
constexpr auto kBound = 5s;

void on_signal(int) {}

// The system call the task at proc_dir (/proc/PID or /proc/self/task/TID) sleeps in, or -1.
long sleeping_in(const std::string& proc_dir) {
  std::ifstream st(proc_dir + "/stat");
  std::string line;
  std::getline(st, line);
  auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return -1;
  char state = line[paren + 2];
  if (state != 'S' && state != 'D') return -1;
  std::ifstream in(proc_dir + "/syscall");
  std::string first;
  if (!(in >> first) || first == "running") return -1;
  return std::strtol(first.c_str(), nullptr, 10);
}

class Interrupt : public MountFixture {
 protected:
  void SetUp() override {
    MountFixture::SetUp();
    struct sigaction sa {};
    sa.sa_handler = on_signal;  // no SA_RESTART: an interrupted call returns EINTR
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old_);
  }
  void TearDown() override {
    resume_server();
    sigaction(SIGUSR1, &old_, nullptr);
    MountFixture::TearDown();
  }
  void stop_server() {
    ASSERT_EQ(::kill(diod_->pid(), SIGSTOP), 0);
    stopped_ = true;
  }
  void resume_server() {
    if (stopped_) ::kill(diod_->pid(), SIGCONT);
    stopped_ = false;
  }
  // True once `proc_dir`'s task sleeps in `nr`: on this mount with diod stopped, that is
  // waiting for the daemon, which waits for the server. (Not `netfs stats`: asking the
  // daemon would wait too.)
  bool blocked_on_server(const std::string& proc_dir, long nr) {
    return eventually([&] { return sleeping_in(proc_dir) == nr; }, 10s);
  }
  // Runs call on a thread of its own, signals it (SIGUSR1) once it waits for the server,
  // and returns its result and errno; fails if it did not return within kBound.
  std::pair<long, int> interrupt_thread(long nr, std::function<long()> call) {
    std::promise<std::pair<long, int>> p;
    auto fut = p.get_future();
    std::atomic<pid_t> tid{0};
    std::thread t([&] {
      tid = static_cast<pid_t>(::syscall(SYS_gettid));
      long r = call();
      p.set_value({r, errno});
    });
    EXPECT_TRUE(eventually([&] { return tid.load() != 0; }));
    EXPECT_TRUE(blocked_on_server("/proc/self/task/" + std::to_string(tid.load()), nr));
    auto t0 = Clock::now();
    ::pthread_kill(t.native_handle(), SIGUSR1);
    bool returned = fut.wait_for(kBound) == std::future_status::ready;
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!returned) resume_server();  // let it finish, to fail rather than hang
    t.join();
    EXPECT_TRUE(returned) << "the call did not return at the signal";
    fprintf(stderr, "syscall %ld returned %.3f s after the signal\n", nr, s);
    return fut.get();
  }
  // Forks a child that runs body (async-signal-safe calls only) and SIGKILLs it once it
  // waits in `nr` for the server. Returns whether it died within kBound.
  bool kill_child(long nr, const std::function<void()>& body) {
    pid_t pid = ::fork();
    if (pid == 0) {
      body();
      ::_exit(0);
    }
    EXPECT_GT(pid, 0);
    EXPECT_TRUE(blocked_on_server("/proc/" + std::to_string(pid), nr));
    auto t0 = Clock::now();
    ::kill(pid, SIGKILL);
    int status = 0;
    bool died = eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, kBound);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!died) {
      resume_server();
      ::waitpid(pid, &status, 0);
    }
    fprintf(stderr, "child in syscall %ld died %.3f s after SIGKILL\n", nr, s);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    return died;
  }
  // Writes back whatever the mount holds for `rel` and checks the server has `data`.
  void expect_on_server(const std::string& rel, const std::vector<char>& data) {
    int fd = ::open(path(rel).c_str(), O_RDWR);
    ASSERT_GE(fd, 0) << strerror(errno);
    EXPECT_EQ(::fsync(fd), 0) << strerror(errno);
    EXPECT_EQ(::close(fd), 0) << strerror(errno);
    EXPECT_EQ(slurp(server_path(rel)), data);
  }

  struct sigaction old_ {};
  bool stopped_ = false;
};

TEST_F(Interrupt, AnFsyncWaitingForAStoppedServerReturnsEintrAtASignalAndTheDataArrivesLater) {
  ASSERT_TRUE(mount("timeout=60s,writeback_delay=3600s"));
  auto data = random_bytes(1 << 20, 1);
  int fd = ::open(path("f").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  stop_server();
  auto [r, err] = interrupt_thread(SYS_fsync, [&] { return static_cast<long>(::fsync(fd)); });
  EXPECT_EQ(r, -1);
  EXPECT_EQ(err, EINTR) << strerror(err);
  resume_server();
  EXPECT_EQ(::fsync(fd), 0) << strerror(errno);  // no error left over from the interrupted one
  EXPECT_EQ(::close(fd), 0) << strerror(errno);
  EXPECT_EQ(slurp(server_path("f")), data);
}

TEST_F(Interrupt, AWriterThrottledAtTheDirtyLimitStopsAtASignal) {
  ASSERT_TRUE(mount("timeout=60s,writeback_delay=3600s,dirty_limit=1M"));
  auto data = random_bytes(4 << 20, 2);
  int fd = ::open(path("w").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  stop_server();
  auto [r, err] = interrupt_thread(SYS_write, [&] { return static_cast<long>(::write(fd, data.data(), data.size())); });
  // A write stopped part-way returns what it wrote (the kernel sends it in pieces); one
  // stopped before any piece landed returns EINTR.
  EXPECT_TRUE((r == -1 && err == EINTR) || (r > 0 && r < static_cast<long>(data.size())))
      << r << " " << strerror(err);
  resume_server();
  EXPECT_EQ(::close(fd), 0) << strerror(errno);
  data.resize(r > 0 ? static_cast<size_t>(r) : 0);
  expect_on_server("w", data);
}

TEST_F(Interrupt, AClosingProcessKilledWhileItsFlushWaitsDiesAndItsDataArrivesLater) {
  ASSERT_TRUE(mount("timeout=60s,writeback_delay=3600s"));
  auto data = random_bytes(1 << 20, 3);
  // Opened and written before the server stops (open asks the server too); the child's
  // close of its copy of the descriptor sends a FLUSH of its own, which writes back.
  int fd = ::open(path("c").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  stop_server();
  EXPECT_TRUE(kill_child(SYS_close, [&] { ::close(fd); }));
  resume_server();
  EXPECT_EQ(::close(fd), 0) << strerror(errno);
  expect_on_server("c", data);
}

TEST_F(Interrupt, AnFsyncingProcessKilledWhileItWaitsDies) {
  ASSERT_TRUE(mount("timeout=60s,writeback_delay=3600s"));
  auto data = random_bytes(1 << 20, 4);
  const std::string p = path("k");
  int fd = ::open(p.c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  stop_server();
  EXPECT_TRUE(kill_child(SYS_fsync, [&] { ::fsync(fd); }));
  resume_server();
  EXPECT_EQ(::close(fd), 0) << strerror(errno);
  expect_on_server("k", data);
}

TEST_F(Interrupt, ALookupWaitingForAStoppedServerReturnsEintrAtASignal) {
  ASSERT_TRUE(mount("timeout=60s"));
  const std::string p = path("never-seen");
  stop_server();
  auto [r, err] = interrupt_thread(SYS_newfstatat, [&] {
    struct stat st;
    return static_cast<long>(::stat(p.c_str(), &st));
  });
  EXPECT_EQ(r, -1);
  EXPECT_EQ(err, EINTR) << strerror(err);
  resume_server();
  struct stat st;
  EXPECT_EQ(::stat(p.c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
}

// The kernel waits for its readahead killably: SIGKILL ends a reader at once.
TEST_F(Interrupt, AReaderKilledWhileItWaitsForTheServerDies) {
  ASSERT_TRUE(mount("timeout=60s"));
  auto remote = random_bytes(4 << 20, 5);
  {
    std::ofstream out(server_path("remote"), std::ios::binary);
    out.write(remote.data(), static_cast<std::streamsize>(remote.size()));
  }
  int fd = ::open(path("remote").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  stop_server();
  std::vector<char> buf(1 << 20);
  EXPECT_TRUE(kill_child(SYS_read, [&] { (void)::read(fd, buf.data(), buf.size()); }));
  resume_server();
  EXPECT_EQ(::pread(fd, buf.data(), buf.size(), 0), static_cast<ssize_t>(buf.size())) << strerror(errno);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), remote.begin()));
  ::close(fd);
}

}  // namespace
}  // namespace netfs::testing
