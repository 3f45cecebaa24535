// A source tree of 50,000 files on a real mount over a diod limited to 1,024 open
// descriptors (issue 16, finding 4): tar extracts it, git adds, commits and fscks it,
// and the mount's server fids stay within `-o max_fids` throughout. Before the bounded
// fid pool every file kept its fids until the kernel forgot its inode, and the 1,018th
// create failed with EMFILE.
//
// Slow: about 20 minutes on the shared 2-core machine it was written on (tar about 5,
// git about 12, teardown the rest); see tests/mount/CMakeLists.txt for its own label (integration_scale)
// and timeout.
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

constexpr int kDirs = 250;
constexpr int kFilesPerDir = 200;  // 50,000 files
constexpr uint64_t kServerFds = 1024;

using TreeScale = MountFixture;

TEST_F(TreeScale, FiftyThousandFilesAndGitWithDiodLimitedTo1024Descriptors) {
  diod_->kill_hard();
  diod_->set_fd_limit(kServerFds);
  ASSERT_TRUE(diod_->start()) << diod_->error();
  ASSERT_TRUE(mount());
  const uint64_t bound = stat("fuse_max_fids");
  ASSERT_LT(bound, kServerFds);

  // The tree, made locally: nested directories of small files of different sizes.
  const std::string src = work_ + "/src";
  for (int d = 0; d < kDirs; d++) {
    std::string dir = src + "/m" + std::to_string(d % 10) + "/d" + std::to_string(d);
    std::filesystem::create_directories(dir);
    for (int f = 0; f < kFilesPerDir; f++) {
      std::ofstream out(dir + "/f" + std::to_string(f) + ".c");
      out << "/* " << d << "/" << f << " */\n" << std::string(static_cast<size_t>((d * 7 + f * 13) % 700), 'x') << "\n";
    }
  }
  auto t = sh("tar -C " + src + " -cf " + work_ + "/tree.tar .");
  ASSERT_EQ(t.status, 0) << t.output;
  // The tree's git hash, computed locally: the mount's commit must have the same.
  auto local = sh("cd " + src + " && git init -q && git add -A && git write-tree && rm -rf .git");
  ASSERT_EQ(local.status, 0) << local.output;

  // The fid count, sampled while the work runs (a measurement, not a synchronisation).
  std::atomic<uint64_t> most{0};
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread sampler([&] {
    std::unique_lock lk(mu);
    while (!cv.wait_for(lk, std::chrono::milliseconds(250), [&] { return done; })) {
      lk.unlock();
      // Not stat(): a sample that finds no answer is skipped, not a failure.
      auto r = netfs({"stats", "--json", mnt_});
      auto at = r.output.find("\"fuse_fids\":");
      if (r.status == 0 && at != std::string::npos) {
        uint64_t f = std::strtoull(r.output.c_str() + at + 12, nullptr, 10);
        if (f > most) most = f;
      }
      lk.lock();
    }
  });
  auto stop = [&] {
    {
      std::lock_guard lk(mu);
      done = true;
    }
    cv.notify_all();
    sampler.join();
  };

  auto x = sh("tar -C " + mnt_ + " -xf " + work_ + "/tree.tar 2>&1");
  // gc.auto=0: a commit of this many loose objects would start `git gc` in the background,
  // still running on the mount when the test unmounts it.
  auto g = sh("cd " + mnt_ +
              " && git init -q && git config gc.auto 0 && git add -A"
              " && git -c user.name=t -c user.email=t@example.com commit -q -m tree"
              " && git fsck --no-progress && git ls-files | wc -l && git rev-parse 'HEAD^{tree}' 2>&1");
  stop();
  ASSERT_EQ(x.status, 0) << x.output.substr(0, 2000);
  EXPECT_EQ(x.output.find("Too many open files"), std::string::npos);
  ASSERT_EQ(g.status, 0) << g.output.substr(0, 2000);
  EXPECT_EQ(g.output.find("Too many open files"), std::string::npos);
  EXPECT_NE(g.output.find(std::to_string(kDirs * kFilesPerDir)), std::string::npos) << g.output.substr(0, 2000);
  EXPECT_NE(g.output.find(local.output), std::string::npos) << "tree differs: " << g.output.substr(0, 2000);

  // Beyond the bound only by fids in use at the moment (files open, RPCs under way).
  uint64_t now = stat("fuse_fids");
  EXPECT_LE(now, bound);
  EXPECT_LE(most.load(), bound + 32);
  EXPECT_GT(stat("fuse_fids_closed"), uint64_t(kDirs * kFilesPerDir));
  printf("tree of %d files: most fids seen %llu, bound %llu, closed %llu, reopened %llu\n", kDirs * kFilesPerDir,
         static_cast<unsigned long long>(most.load()), static_cast<unsigned long long>(bound),
         static_cast<unsigned long long>(stat("fuse_fids_closed")),
         static_cast<unsigned long long>(stat("fuse_fids_reopened")));
}

}  // namespace
}  // namespace netfs::testing
