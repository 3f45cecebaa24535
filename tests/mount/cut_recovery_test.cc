// Recovery through cuts and server crashes (issue 15): the mount reaches diod through a
// proxy that resets each connection after 4-16 MiB (a schedule from a seed), and diod
// runs under a supervisor that restarts it on the same port when it dies (diod 1.0.24
// segfaults on such resets, docs/fuse.md "Run the server under a supervisor") or stops
// answering. A large file written and fsynced through the cuts must be on the server's
// disk byte for byte, and read back byte for byte through a fresh mount, still cut.
//
// About 7 s per test here (96 MiB each way, ~20 cuts, reconnects, diod restarts), longer
// on a loaded machine, so it has its own label, integration_cuts (-L integration still
// runs it). NETFS_CUT_SEED=N replays a schedule; NETFS_CUT_MIB=N changes the size;
// NETFS_CUT_MIN_KIB and NETFS_CUT_MAX_KIB the budgets; NETFS_CUT_OPTS adds mount options.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>

#include "integration/cutting_proxy.h"
#include "integration/diod_supervisor.h"
#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

constexpr size_t kChunk = 1u << 20;

// Runs fn in a child process and returns its result (an errno, 0 for success; -1 if the
// child did not exit). The mount's files are opened only there: a file the test process
// held open would be inherited by each diod the supervisor forks, and closing it at the
// exec flushes it through the mount, which waits for that very server. The child first
// closes what it inherited: a copy of the proxy's sockets would keep a connection the
// proxy cuts open.
int in_child(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    close_range(3, ~0U, 0);
    _exit(fn());
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int fail(const char* what, int err) {
  fprintf(stderr, "%s: %s\n", what, strerror(err));
  return err;
}

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

class CutRecovery : public MountFixture {
 protected:
  void TearDown() override {
    if (HasFailure()) {  // what the daemon and diod said, before teardown removes them
      auto logs = sh("tail -n 40 " + work_ + "/netfs.log " + diod_->dir() + "/../diod.log");
      fprintf(stderr, "%s\n", logs.output.c_str());
    }
    if (proxy_) proxy_->set_cutting(false);
    if (mounted_) {
      auto r = netfs({"umount", mnt_});
      if (r.status != 0) run({"fusermount3", "-u", "-z", mnt_});
      mounted_ = false;
    }
    if (supervisor_) supervisor_->stop();
    if (proxy_) proxy_->stop();
    MountFixture::TearDown();
  }

  // Mounts the export through the proxy; a short timeout keeps a lost server from
  // holding the test for long (the supervisor brings it back within a second or so).
  bool mount_via_proxy(std::string* out) {
    std::string url = "9p://127.0.0.1:" + std::to_string(proxy_->port()) + diod_->dir();
    const char* more = std::getenv("NETFS_CUT_OPTS");  // extra -o options, e.g. conns=2
    auto r = netfs({"mount", url, mnt_, "-o",
                    "log=" + work_ + "/netfs.log,timeout=20s" + (more && *more ? "," + std::string(more) : "")});
    *out = r.output;
    mounted_ = r.status == 0;
    return mounted_;
  }

  std::string report() const {
    return "seed " + std::to_string(seed_) + ": proxy " + std::to_string(proxy_->connections()) +
           " connections, " + std::to_string(proxy_->cuts()) + " cuts, " + std::to_string(proxy_->bytes() >> 20) +
           " MiB; diod " + std::to_string(supervisor_->crashes()) + " crashes, " +
           std::to_string(supervisor_->exits()) + " exits, " + std::to_string(supervisor_->hangs()) +
           " hangs, " + std::to_string(supervisor_->restarts()) + " restarts, " +
           std::to_string(supervisor_->restart_failures()) + " failed restarts " + supervisor_->last_error();
  }

  void run_through_cuts(bool sigpipe_ignored);

  uint64_t seed_ = 0;
  std::unique_ptr<CuttingProxy> proxy_;
  std::unique_ptr<DiodSupervisor> supervisor_;
};

// The whole run: write + fsync, the server's disk, a fresh mount's read-back. diod is
// started as a shell would (a write to a reset connection kills it with SIGPIPE) or as
// systemd would (SIGPIPE ignored: then what kills it is its own bugs, finding 9).
void CutRecovery::run_through_cuts(bool sigpipe_ignored) {
  diod_->set_sigpipe_ignored(sigpipe_ignored);
  diod_->kill_hard();
  ASSERT_TRUE(diod_->start()) << diod_->error();
  seed_ = env_or("NETFS_CUT_SEED", 20261207);
  const size_t size = env_or("NETFS_CUT_MIB", 96) << 20;
  RecordProperty("seed", std::to_string(seed_));
  proxy_ = std::make_unique<CuttingProxy>(diod_->endpoint(), seed_, env_or("NETFS_CUT_MIN_KIB", 4096) << 10,
                                          env_or("NETFS_CUT_MAX_KIB", 16384) << 10);
  ASSERT_TRUE(proxy_->start()) << proxy_->error();
  supervisor_ = std::make_unique<DiodSupervisor>(*diod_);
  supervisor_->start();
  std::string out;
  ASSERT_TRUE(mount_via_proxy(&out)) << out;

  auto data = random_bytes(size, static_cast<unsigned>(seed_));
  auto t0 = std::chrono::steady_clock::now();
  int st = in_child([&] {
    int fd = ::open(path("big").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return fail("open", errno);
    for (size_t off = 0; off < size; off += kChunk) {
      size_t n = std::min(kChunk, size - off);
      if (::write(fd, data.data() + off, n) != static_cast<ssize_t>(n)) return fail("write", errno);
    }
    if (::fsync(fd) != 0) return fail("fsync", errno);
    if (::close(fd) != 0) return fail("close", errno);
    return 0;
  });
  ASSERT_EQ(st, 0) << strerror(st) << "; " << report();
  auto t1 = std::chrono::steady_clock::now();
  uint64_t write_reconnects = stat("p9_reconnects");
  uint64_t write_cuts = proxy_->cuts();
  EXPECT_GT(write_reconnects, 0u) << report();
  auto r = netfs({"umount", mnt_});
  ASSERT_EQ(r.status, 0) << r.output << report();
  mounted_ = false;
  auto disk = slurp(server_path("big"));
  ASSERT_EQ(disk.size(), size) << report();
  EXPECT_TRUE(disk == data) << "the server's file differs from what was written; " << report();

  // A fresh mount reads it back, through the same cuts.
  ASSERT_TRUE(mount_via_proxy(&out)) << out;
  auto t2 = std::chrono::steady_clock::now();
  st = in_child([&] {
    int fd = ::open(path("big").c_str(), O_RDONLY);
    if (fd < 0) return fail("open", errno);
    std::vector<char> buf(kChunk);
    size_t off = 0;
    for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) != 0; off += static_cast<size_t>(n)) {
      if (n < 0) return fail("read", errno);
      if (off + static_cast<size_t>(n) > size || memcmp(buf.data(), data.data() + off, static_cast<size_t>(n)) != 0) {
        fprintf(stderr, "read back other bytes in [%zu, %zu)\n", off, off + static_cast<size_t>(n));
        return EILSEQ;
      }
    }
    if (off != size) fprintf(stderr, "read back %zu bytes of %zu\n", off, size);
    ::close(fd);
    return off == size ? 0 : EILSEQ;
  });
  auto t3 = std::chrono::steady_clock::now();
  ASSERT_EQ(st, 0) << strerror(st) << "; " << report();
  uint64_t read_reconnects = stat("p9_reconnects");
  EXPECT_GT(read_reconnects, 0u) << report();
  EXPECT_GT(proxy_->cuts(), write_cuts) << report();

  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  printf("cut recovery (diod %s), %zu MiB: write+fsync %.1f s with %llu reconnects, read %.1f s with %llu "
         "reconnects; %s\n",
         sigpipe_ignored ? "ignoring SIGPIPE" : "killed by SIGPIPE", size >> 20, secs(t1 - t0),
         static_cast<unsigned long long>(write_reconnects), secs(t3 - t2),
         static_cast<unsigned long long>(read_reconnects), report().c_str());
}

TEST_F(CutRecovery, ThroughCutsAndADiodThatSIGPIPEKillsNoByteIsLost) { run_through_cuts(false); }

TEST_F(CutRecovery, ThroughCutsAndADiodRunAsSystemdWouldNoByteIsLost) { run_through_cuts(true); }

}  // namespace
}  // namespace netfs::testing
