// The integrity exerciser (netfs_fsx) on a real mount: 20,000 operations with the kernel
// page cache in use, and again with it bypassed (-o direct_io, where shared mmap is not
// available, so the run has no mmap operations), and with the local cache under a small
// memory budget. The server's copy must match too.
#include <cstdlib>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

uint64_t seed() {
  const char* s = std::getenv("NETFS_FSX_SEED");
  return s ? std::strtoull(s, nullptr, 10) : 20240601;
}

using MountFsx = MountFixture;

TEST_F(MountFsx, TwentyThousandOpsWithKernelCache) {
  ASSERT_TRUE(mount());
  auto r = run({NETFS_FSX, path("fsx.data"), "-N", "20000", "-S", std::to_string(seed()), "--server",
                server_path("fsx.data")});
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST_F(MountFsx, TwentyThousandOpsWithDirectIo) {
  ASSERT_TRUE(mount("direct_io"));
  auto r = run({NETFS_FSX, path("fsx.data"), "-N", "20000", "-S", std::to_string(seed() + 1), "--no-mmap",
                "--server", server_path("fsx.data")});
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST_F(MountFsx, SmallFolioEdgesWithTinyWritebackDelay) {
  // Write-back racing the operations: the flusher runs every few milliseconds.
  ASSERT_TRUE(mount("writeback_delay=5ms,dirty_limit=1M"));
  auto r = run({NETFS_FSX, path("fsx.data"), "-N", "5000", "-S", std::to_string(seed() + 2), "-l", "300000", "-o",
                "20000", "--server", server_path("fsx.data")});
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST_F(MountFsx, WithTheLocalCacheAndASmallMemoryBudget) {
  // Folios are evicted soon (4 MiB budget for a 12 MB file), so re-reads come from the
  // disk cache, which writes, truncates and write-back keep changing under them. Fewer
  // operations than above: with a 5 ms write-back delay each one costs a few fdatasyncs
  // of the cache (about 10 ms on the test machine's disk).
  std::string cache = "cache_dir=" + work_ + "/cache";
  ASSERT_TRUE(mount(cache + ",memory=4M,writeback_delay=5ms,dirty_limit=1M"));
  auto r = run({NETFS_FSX, path("fsx.data"), "-N", "600", "-S", std::to_string(seed() + 3), "-l", "12000000",
                "-o", "200000", "--server", server_path("fsx.data")});
  EXPECT_EQ(r.status, 0) << r.output;
  auto st = netfs({"stats", "--json", mnt_});
  EXPECT_NE(st.output.find("\"cache_read_bytes\":"), std::string::npos);
  EXPECT_GT(stat("cache_read_bytes"), 0u) << st.output;
}

}  // namespace
}  // namespace netfs::testing
