// The spool under an encrypted cache (-o cache_key; review of issue 14, finding 1): data
// the daemon could not write at exit used to lie in cache_dir/spool in clear, with the
// server's URL and the file's path. Now it is sealed with the cache's key: the cache
// directory shows nothing of it, `netfs spool` lists it only with --key, a mount with
// another key keeps it, and the next mount with the key uploads it.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kMarker[] = "MARKER-spooled-b0a7";
constexpr char kName[] = "spooled-secret-otter";

std::vector<std::byte> marked(size_t n, unsigned seed) {
  auto r = random_bytes(n, seed);
  for (size_t i = 0; i + sizeof kMarker < n; i += 4096) std::memcpy(r.data() + i, kMarker, sizeof kMarker - 1);
  std::vector<std::byte> v(n);
  std::memcpy(v.data(), r.data(), n);
  return v;
}

class SpoolEncryption : public MountFixture {
 protected:
  void SetUp() override {
    MountFixture::SetUp();
    fs::create_directories(work_ + "/keys");
    key_ = work_ + "/keys/k";
    ASSERT_EQ(netfs({"cache", "--new-key", key_}).status, 0);
  }
  std::string cache_dir() const { return work_ + "/cache"; }
  std::string log() {
    std::ifstream in(work_ + "/netfs.log", std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  // Writes kName with diod killed before close, unmounts with plain umount(8) and waits
  // for the exiting daemon's entry to show in `netfs spool --key` (bounded: the daemon
  // first tries once more, one timeout of 1 s and one retry).
  void leave_unwritten(const std::vector<std::byte>& data) {
    std::string out;
    ASSERT_TRUE(mount("cache_dir=" + cache_dir() + ",cache_key=" + key_ + ",timeout=1s,retries=1,writeback_delay=3600s",
                      &out))
        << out;
    int fd = ::open(path(kName).c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    diod_->kill_hard();
    EXPECT_NE(::close(fd), 0);
    RunResult r = run({"umount", mnt_});
    ASSERT_EQ(r.status, 0) << r.output;
    mounted_ = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (netfs({"spool", cache_dir(), "--key", key_}).output.find(std::string("/") + kName) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r = netfs({"spool", cache_dir(), "--key", key_});
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(url() + "  /" + kName + "  " + std::to_string(data.size()) + " bytes"), std::string::npos)
        << r.output << log();
  }
  std::string key_;
};

TEST_F(SpoolEncryption, SpooledDataIsSealedAndTheNextMountWithTheKeyUploadsIt) {
  const auto data = marked(300000, 21);
  leave_unwritten(data);
  ASSERT_TRUE(fs::exists(cache_dir() + "/spool"));

  auto g = sh("grep -r -a -l -e " + std::string(kMarker) + " -e " + kName + " -e 127.0.0.1 -e " + diod_->dir() + " " +
              cache_dir() + " || true");
  EXPECT_EQ(g.output, "") << "found in clear";
  auto s = sh("find " + cache_dir() + " -type f -exec strings -n 6 {} + | grep -e MARKER -e otter -e 127.0.0 -e 9p: "
              "|| true");
  EXPECT_EQ(s.output, "");

  // Without the key: counted, nothing named, and how to see more.
  RunResult r = netfs({"spool", cache_dir()});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("1 sealed file(s)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--key"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(kName), std::string::npos) << r.output;

  ASSERT_TRUE(diod_->start()) << diod_->error();
  std::string out;
  ASSERT_TRUE(mount("cache_dir=" + cache_dir() + ",cache_key=" + key_, &out)) << out;
  EXPECT_EQ(diod_->file(kName), data);  // uploaded before the mount was ready
  r = netfs({"spool", cache_dir(), "--key", key_});
  EXPECT_NE(r.output.find("nothing waits"), std::string::npos) << r.output;
}

TEST_F(SpoolEncryption, AMountWithAnotherKeyKeepsTheEntries) {
  const auto data = marked(100000, 22);
  leave_unwritten(data);
  ASSERT_TRUE(diod_->start()) << diod_->error();

  // Another key: the cache's objects are dropped (cache_mismatch=drop), the spool stays.
  const std::string other = work_ + "/keys/other";
  ASSERT_EQ(netfs({"cache", "--new-key", other}).status, 0);
  std::string out;
  ASSERT_TRUE(mount("cache_dir=" + cache_dir() + ",cache_key=" + other, &out)) << out;
  EXPECT_NE(diod_->file(kName), data);
  RunResult r = netfs({"umount", mnt_});
  ASSERT_EQ(r.status, 0) << r.output;
  mounted_ = false;
  EXPECT_NE(log().find("sealed with another cache_key or none given; kept"), std::string::npos) << log();
  r = netfs({"spool", cache_dir(), "--key", key_});
  EXPECT_NE(r.output.find(std::string("/") + kName), std::string::npos) << r.output;

  ASSERT_TRUE(mount("cache_dir=" + cache_dir() + ",cache_key=" + key_, &out)) << out;
  EXPECT_EQ(diod_->file(kName), data);
}

}  // namespace
}  // namespace netfs::testing
