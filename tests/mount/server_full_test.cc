// A full server disk (issue 15, finding 4): a small tmpfs mounted over diod's export by
// the test. The server refuses the data with ENOSPC; fsync and close say so, the flusher
// backs off instead of resending the file every pass, deleting the file frees the
// server's space at once, and the mount goes on working.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "mount/mount_fixture.h"
#include "fakes/pattern.h"

namespace netfs::testing {
namespace {

class ServerFull : public MountFixture {
 protected:
  void SetUp() override {
    MountFixture::SetUp();
    if (HasFatalFailure()) return;
    // diod resolves the export at attach time, so the tmpfs mounted now is what it serves.
    ASSERT_EQ(::mount("tmpfs", diod_->dir().c_str(), "tmpfs", 0, "size=4m,mode=0777"), 0) << strerror(errno);
    tmpfs_ = true;
  }
  void TearDown() override {
    if (mounted_) {
      auto r = netfs({"umount", mnt_});
      if (r.status != 0) run({"fusermount3", "-u", "-z", mnt_});
      mounted_ = false;
    }
    if (tmpfs_) ::umount2(diod_->dir().c_str(), MNT_DETACH);
    MountFixture::TearDown();
  }
  uint64_t server_free() {
    struct statvfs v {};
    if (::statvfs(diod_->dir().c_str(), &v) != 0) return 0;
    return static_cast<uint64_t>(v.f_bfree) * v.f_frsize;
  }
  bool tmpfs_ = false;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST_F(ServerFull, EnospcIsReportedBackedOffAndFreedByRm) {
  ASSERT_TRUE(mount());
  const uint64_t empty = server_free();
  ASSERT_GT(empty, 3u << 20);

  // 8 MiB into a 4 MiB disk.
  std::vector<std::byte> data = pattern(8 << 20, 3);
  int fd = ::open(path("big.bin").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size())) << strerror(errno);
  errno = 0;
  EXPECT_EQ(::fsync(fd), -1);
  EXPECT_EQ(errno, ENOSPC);
  errno = 0;
  EXPECT_EQ(::close(fd), -1);
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_GE(stat("wb_refused_files"), 1u);
  EXPECT_EQ(stat("wb_refused_now"), 1u);

  // The flusher passes every second; before, each resent all of the 4 MiB left (64
  // Twrites of 64 KiB a pass). Now a probe of one folio after 2 s, then 4 s, ...
  const auto window = std::chrono::seconds(6);
  const uint64_t rpcs0 = stat("p9_rpcs");
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window);  // a measurement window, not a wait for an event
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t rpcs = stat("p9_rpcs") - rpcs0;
  std::printf("RPCs in %.1f s after ENOSPC: %llu (%.2f/s); backed-off passes %llu\n", secs,
              static_cast<unsigned long long>(rpcs), rpcs / secs,
              static_cast<unsigned long long>(stat("wb_backed_off")));
  EXPECT_LT(rpcs / secs, 2.0);
  EXPECT_GE(stat("wb_backed_off"), 1u);
  // Logged once for the file, with its errno and path.
  std::string log = slurp(work_ + "/netfs.log");
  size_t first = log.find("/big.bin: the server refuses its data: No space left on device");
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("/big.bin: the server refuses", first + 1), std::string::npos) << log;

  // Deleting the file drops its unwritten data and its open fid: the server frees it.
  ASSERT_EQ(::unlink(path("big.bin").c_str()), 0) << strerror(errno);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server_free() < empty - (256u << 10) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(server_free(), empty - (256u << 10)) << "the server still holds the deleted file\n" << slurp(work_ + "/netfs.log") << sh("ls -l /proc/" + std::to_string(diod_->pid()) + "/fd").output;
  EXPECT_EQ(stat("mem_dirty_bytes"), 0u);
  EXPECT_EQ(stat("wb_refused_now"), 0u);

  // The mount stays usable: a new file writes fine.
  std::vector<std::byte> small = pattern(100000, 4);
  fd = ::open(path("small.bin").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(::write(fd, small.data(), small.size()), static_cast<ssize_t>(small.size()));
  EXPECT_EQ(::close(fd), 0) << strerror(errno);
  EXPECT_EQ(diod_->file("small.bin"), small);
}

}  // namespace
}  // namespace netfs::testing
