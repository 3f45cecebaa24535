// The bounded pool of server fids (issue 16, finding 4) on a real mount over a real
// diod: files nobody has open give their fids back beyond `-o max_fids`, and every
// operation on such a file walks (and opens) it again, correctly, by one of its names.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void put(const std::string& p, const std::string& s, int flags = O_TRUNC) {
  int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | flags, 0644);
  ASSERT_GE(fd, 0) << p << ": " << strerror(errno);
  ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())) << strerror(errno);
  ASSERT_EQ(::close(fd), 0) << strerror(errno);
}

std::string name(int i) { return "f" + std::to_string(i); }
std::string body(int i, int round) { return "file " + std::to_string(i) + " round " + std::to_string(round) + "\n"; }

using FidPool = MountFixture;

// 100 files through a pool of 8 fids: each stat, read, write, rename and unlink finds
// its file's fid given back by the others and must walk a fresh one by the right name.
// Zero timeouts make the kernel ask every time.
TEST_F(FidPool, ATinyBoundClosesAndReopensFidsCorrectly) {
  ASSERT_TRUE(mount("max_fids=8,attr_timeout=0,entry_timeout=0"));
  constexpr int kFiles = 100;
  ASSERT_EQ(::mkdir(path("d").c_str(), 0755), 0);
  for (int i = 0; i < kFiles; i++) put(path("d/" + name(i)), body(i, 0));
  EXPECT_LE(stat("fuse_fids"), 8u);
  for (int i = 0; i < kFiles; i++) {
    struct stat st;
    ASSERT_EQ(::stat(path("d/" + name(i)).c_str(), &st), 0) << i << ": " << strerror(errno);
    EXPECT_EQ(static_cast<size_t>(st.st_size), body(i, 0).size()) << i;
  }
  for (int i = 0; i < kFiles; i++) ASSERT_EQ(slurp(path("d/" + name(i))), body(i, 0)) << i;
  // Writes through files whose I/O fids were given back: reopened, written, closed.
  for (int i = 0; i < kFiles; i++) put(path("d/" + name(i)), body(i, 1), O_APPEND);
  for (int i = 0; i < kFiles; i++) ASSERT_EQ(slurp(server_path("d/" + name(i))), body(i, 0) + body(i, 1)) << i;
  // Renames, then the old nodes answer by their new names.
  for (int i = 0; i < kFiles; i++)
    ASSERT_EQ(::rename(path("d/" + name(i)).c_str(), path("d/r" + std::to_string(i)).c_str()), 0) << strerror(errno);
  for (int i = 0; i < kFiles; i++) ASSERT_EQ(slurp(path("d/r" + std::to_string(i))), body(i, 0) + body(i, 1)) << i;
  // A directory renamed while its children hold no fids: they follow it.
  ASSERT_EQ(::rename(path("d").c_str(), path("e").c_str()), 0) << strerror(errno);
  for (int i = 0; i < kFiles; i += 2) ASSERT_EQ(::unlink(path("e/r" + std::to_string(i)).c_str()), 0) << strerror(errno);
  for (int i = 0; i < kFiles; i++) {
    struct stat st;
    int r = ::stat(path("e/r" + std::to_string(i)).c_str(), &st);
    if (i % 2) {
      ASSERT_EQ(r, 0) << i << ": " << strerror(errno);
      EXPECT_EQ(slurp(path("e/r" + std::to_string(i))), body(i, 0) + body(i, 1)) << i;
    } else {
      EXPECT_EQ(r, -1) << i;
    }
  }
  EXPECT_LE(stat("fuse_fids"), 8u);
  EXPECT_EQ(stat("fuse_max_fids"), 8u);
  EXPECT_GT(stat("fuse_fids_closed"), 2u * kFiles);
  EXPECT_GT(stat("fuse_fids_reopened"), 2u * kFiles);
}

// Open files keep their fids whatever the bound: writes through 20 descriptors held
// open at once, with a bound of 8, all land.
TEST_F(FidPool, OpenFilesKeepTheirFids) {
  ASSERT_TRUE(mount("max_fids=8"));
  std::vector<int> fds;
  for (int i = 0; i < 20; i++) {
    int fd = ::open(path(name(i)).c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0) << strerror(errno);
    fds.push_back(fd);
  }
  // Other files come and go meanwhile, so the pool trims.
  for (int i = 100; i < 150; i++) put(path(name(i)), body(i, 0));
  for (int i = 0; i < 20; i++) {
    std::string b = body(i, 0);
    ASSERT_EQ(::pwrite(fds[i], b.data(), b.size(), 0), static_cast<ssize_t>(b.size())) << strerror(errno);
  }
  EXPECT_GE(stat("fuse_fids"), 20u);  // the open files' fids stay
  for (int fd : fds) ASSERT_EQ(::close(fd), 0) << strerror(errno);
  for (int i = 0; i < 20; i++) EXPECT_EQ(slurp(server_path(name(i))), body(i, 0)) << i;
  for (int i = 100; i < 150; i++) EXPECT_EQ(slurp(path(name(i))), body(i, 0)) << i;
  EXPECT_LE(stat("fuse_fids"), 8u);
}

}  // namespace
}  // namespace netfs::testing
