// `netfs umount` and the control channel, against a real diod and real mounts: umount
// touches only netfs mounts, the control channel answers while a drain runs, a second
// umount joins the first and both tell the same truth, and a dead mount is still cleaned
// up.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "fakes/eventually.h"
#include "fuse/control_channel.h"
#include "fuse/mount_table.h"
#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool netfs_mounted(const std::string& mp) {
  auto m = fuse::mount_at(mp);
  return m && fuse::is_netfs(*m);
}

bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string pidf, comm, state;
  return !(st >> pidf >> comm >> state) || state != "Z";
}

// A `netfs` command running in the background, whose output the test reads as it comes.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(p[1], 1);
      dup2(p[1], 2);
      std::vector<char*> a = {const_cast<char*>(NETFS_BIN)};
      for (auto& s : args) a.push_back(const_cast<char*>(s.c_str()));
      a.push_back(nullptr);
      execv(a[0], a.data());
      _exit(127);
    }
    ::close(p[1]);
    fd_ = p[0];
  }
  ~Child() {
    if (pid_ > 0 && status_ < -1) finish();
    if (fd_ >= 0) ::close(fd_);
  }

  // Reads until the output holds `needle` (true) or the child closed it or limit passed.
  bool wait_for(const std::string& needle, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (output_.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0 || !read_some(static_cast<int>(left))) return false;
    }
    return true;
  }
  // Not exited yet (the exit is not collected: finish() still gets its status).
  bool running() {
    siginfo_t si{};
    return status_ < -1 && waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           si.si_pid == 0;
  }
  RunResult finish() {
    while (read_some(-1)) {
    }
    int st = 0;
    waitpid(pid_, &st, 0);
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return {status_, output_};
  }

 private:
  bool read_some(int timeout_ms) {
    pollfd q{fd_, POLLIN, 0};
    int pr = ::poll(&q, 1, timeout_ms);
    if (pr <= 0) return false;
    char buf[4096];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  int status_ = -2;
  std::string output_;
};

// The lines of an umount's output that state its outcome (progress lines left out).
std::string outcome_of(const std::string& out) {
  std::istringstream in(out);
  std::string line, keep;
  while (std::getline(in, line))
    if (line.find("waiting to write") == std::string::npos && line.find("another netfs umount") == std::string::npos)
      keep += line + "\n";
  return keep;
}

class Umount : public MountFixture {
 protected:
  pid_t daemon_pid() {
    std::string why;
    auto info = fuse::control_request(mnt_, "info", &why, 10000);
    EXPECT_TRUE(info.ok()) << why;
    if (!info.ok()) return -1;
    auto p = info->find("pid ");
    return p == std::string::npos ? -1 : std::atoi(info->c_str() + p + 4);
  }

  // Leaves `data` dirty in the mount under `name`, then kills the server: the data has
  // nowhere to go. The file is held open by a child of its own until release_dirty():
  // closing it would write it back, and so would every fork of this process that
  // inherited it, at its exec or exit (a FUSE flush), waiting for the server.
  void dirty_with_server_gone(const std::string& name, const std::vector<char>& data) {
    int ready[2], release[2];
    ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(release, O_CLOEXEC), 0);
    holder_ = fork();
    if (holder_ == 0) {
      ::close(ready[0]);
      ::close(release[1]);
      int fd = ::open(path(name).c_str(), O_CREAT | O_RDWR, 0644);
      char ok = fd >= 0 && ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
      (void)!::write(ready[1], &ok, 1);
      char c;
      (void)!::read(release[0], &c, 1);  // until the test lets go
      ::close(fd);
      _exit(0);
    }
    ::close(ready[1]);
    ::close(release[0]);
    release_fd_ = release[1];
    char ok = 0;
    EXPECT_EQ(::read(ready[0], &ok, 1), 1);
    ::close(ready[0]);
    ASSERT_TRUE(ok) << "could not write the dirty file";
    diod_->kill_hard();
  }
  // The holder closes the file (a write-back, whatever it finds) and exits.
  void release_dirty() {
    if (holder_ <= 0) return;
    ::close(release_fd_);
    waitpid(holder_, nullptr, 0);
    holder_ = -1;
  }
  void TearDown() override {
    release_dirty();
    MountFixture::TearDown();
  }

  pid_t holder_ = -1;
  int release_fd_ = -1;
};

// A tmpfs the test mounts, unmounted by the test whatever happens.
struct Tmpfs {
  explicit Tmpfs(const std::string& dir) : dir(dir) {
    std::filesystem::create_directory(dir);
    ok = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1m") == 0;
  }
  ~Tmpfs() {
    if (ok) ::umount2(dir.c_str(), MNT_DETACH);
  }
  std::string dir;
  bool ok = false;
};

TEST_F(Umount, LeavesATmpfsMountedWithItsFile) {
  Tmpfs t(work_ + "/tmpfs");
  ASSERT_TRUE(t.ok) << strerror(errno);
  { std::ofstream(t.dir + "/f") << "data\n"; }
  auto r = netfs({"umount", t.dir});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("not a netfs mount"), std::string::npos) << r.output;
  auto m = fuse::mount_at(t.dir);
  ASSERT_TRUE(m) << "netfs umount unmounted a tmpfs";
  EXPECT_EQ(m->fstype, "tmpfs");
  std::string content;
  std::getline(std::ifstream(t.dir + "/f"), content);
  EXPECT_EQ(content, "data");
  // The other commands refuse it the same way.
  for (std::vector<std::string> cmd : {std::vector<std::string>{"stats", t.dir}, {"trace", "-n", t.dir},
                                       {"cache", t.dir}, {"cache", "--drop", t.dir}}) {
    r = netfs(cmd);
    EXPECT_EQ(r.status, 2) << cmd[0] << ": " << r.output;
    EXPECT_NE(r.output.find("not a netfs mount"), std::string::npos) << r.output;
  }
  EXPECT_TRUE(fuse::mount_at(t.dir));
}

TEST_F(Umount, RefusesProcAndAPathThatIsNotAMountPoint) {
  auto r = netfs({"umount", "/proc"});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("not a netfs mount"), std::string::npos) << r.output;
  EXPECT_TRUE(fuse::mount_at("/proc"));
  r = netfs({"umount", work_});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("not a mount point"), std::string::npos) << r.output;
  r = netfs({"stats", work_});
  EXPECT_EQ(r.status, 2) << r.output;
}

TEST_F(Umount, StatsAndTraceAnswerWhileADrainRuns) {
  // timeout=3s keeps the drain with the server gone running for several seconds.
  ASSERT_TRUE(mount("timeout=3s,retries=1,writeback_delay=3600s"));
  dirty_with_server_gone("dirty", random_bytes(1 << 20, 1));
  Child um({"umount", mnt_});
  ASSERT_TRUE(um.wait_for("waiting to write", 10s));  // the drain has started
  auto t0 = Clock::now();
  auto r = netfs({"stats", mnt_});
  auto took = Clock::now() - t0;
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("Upload"), std::string::npos) << r.output;
  EXPECT_LT(took, 1s);
  r = netfs({"trace", "-n", mnt_});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(um.running()) << "the drain ended before the test asked: nothing was shown";
  auto ur = um.finish();
  EXPECT_EQ(ur.status, 1) << ur.output;
  ASSERT_TRUE(diod_->start()) << diod_->error();
}

TEST_F(Umount, ASecondUmountJoinsTheFirstAndBothTellTheSameOutcome) {
  ASSERT_TRUE(mount("timeout=2s,retries=1,writeback_delay=3600s"));
  pid_t daemon = daemon_pid();
  ASSERT_GT(daemon, 0);
  auto data = random_bytes(3 << 20, 2);
  dirty_with_server_gone("dirty", data);
  Child first({"umount", mnt_});
  ASSERT_TRUE(first.wait_for("waiting to write", 10s)) << "no progress from the first umount";
  Child second({"umount", mnt_});
  auto r1 = first.finish();
  auto r2 = second.finish();
  EXPECT_EQ(r1.status, 1) << r1.output;
  EXPECT_EQ(r2.status, 1) << r2.output;
  EXPECT_NE(r2.output.find("another netfs umount"), std::string::npos) << r2.output;
  EXPECT_NE(r1.output.find("/dirty: 3145728 bytes could not be written"), std::string::npos) << r1.output;
  EXPECT_NE(r1.output.find("stays mounted"), std::string::npos) << r1.output;
  EXPECT_EQ(outcome_of(r1.output), outcome_of(r2.output));
  // The server said so: which server, and that it does not answer.
  EXPECT_NE(r1.output.find("127.0.0.1:" + std::to_string(diod_->port())), std::string::npos) << r1.output;
  EXPECT_NE(r1.output.find("does not answer"), std::string::npos) << r1.output;
  for (auto* out : {&r1.output, &r2.output}) {
    EXPECT_EQ(out->find("dead"), std::string::npos) << *out;
    EXPECT_EQ(out->find("gone"), std::string::npos) << *out;
  }
  // Both told the truth: the daemon and its mount are still there, together.
  EXPECT_TRUE(netfs_mounted(mnt_));
  EXPECT_TRUE(alive(daemon));
  EXPECT_EQ(netfs({"stats", mnt_}).status, 0);

  // The server comes back on the same port: the next umount writes everything and unmounts.
  ASSERT_TRUE(diod_->start()) << diod_->error();
  release_dirty();
  auto r = netfs({"umount", mnt_});
  EXPECT_EQ(r.status, 0) << r.output;
  mounted_ = r.status != 0;
  EXPECT_FALSE(netfs_mounted(mnt_));
  EXPECT_FALSE(alive(daemon));
  EXPECT_EQ(slurp(server_path("dirty")), data);
}

// A process still writing during `netfs umount`: the drain's fsync succeeds, and the file
// is dirty again when it returns. That is no server failure: before the fix the umount said
// "N bytes could not be written: Input/output error" and "Fix the server".
TEST_F(Umount, AFileStillBeingWrittenIsNotReportedAsAnIOError) {
  ASSERT_TRUE(mount());
  int stop[2];
  ASSERT_EQ(pipe2(stop, O_CLOEXEC | O_NONBLOCK), 0);
  pid_t writer = fork();
  if (writer == 0) {
    ::close(stop[1]);
    int fd = ::open(path("busy").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) _exit(1);
    std::vector<char> block(4096, 'b');
    char c;
    uint64_t n = 0;
    // Until the test closes its end (read gives 0), keep dirtying, rewinding every 64 MiB.
    while (::read(stop[0], &c, 1) < 0) {
      if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>((n++ % 16384) * 4096)) < 0) _exit(2);
    }
    ::close(fd);
    _exit(0);
  }
  ::close(stop[0]);
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(server_path("busy")); }, 10s));
  bool seen = false;
  for (int i = 0; i < 20 && !seen; i++) {
    auto r = netfs({"umount", mnt_});
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_EQ(r.output.find("Input/output error"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("Fix the server"), std::string::npos) << r.output;
    seen = r.output.find("written to it during the write-back") != std::string::npos;
    if (seen) EXPECT_NE(r.output.find("still being written"), std::string::npos) << r.output;
    ASSERT_TRUE(netfs_mounted(mnt_)) << r.output;
  }
  ::close(stop[1]);
  int st = 0;
  waitpid(writer, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_TRUE(seen) << "no umount found the file dirtied again during its write-back in 20 tries";
  auto r = netfs({"umount", mnt_});
  EXPECT_EQ(r.status, 0) << r.output;
  mounted_ = r.status != 0;
}

TEST_F(Umount, ADeadMountIsStillCleanedUp) {
  ASSERT_TRUE(mount());
  pid_t daemon = daemon_pid();
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  // Bounded wait for the very condition: the daemon has exited (a zombie counts).
  auto deadline = Clock::now() + 10s;
  while (alive(daemon) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  ASSERT_FALSE(alive(daemon));
  auto r = netfs({"umount", mnt_});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("gone"), std::string::npos) << r.output;
  EXPECT_FALSE(fuse::mount_at(mnt_)) << "the dead mount was left";
  mounted_ = fuse::mount_at(mnt_).has_value();
}

}  // namespace
}  // namespace netfs::testing
