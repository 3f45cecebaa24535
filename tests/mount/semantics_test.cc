// POSIX semantics of the mount, one test per line of docs/semantics.md: real syscalls on a
// real FUSE mount of a real diod, with a second mount of the same export where the line
// is about what another client sees, and as an unprivileged user where permissions are the
// subject. A test named in docs/semantics.md must exist here (or in the file it names).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

std::string random_text(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

// The whole file, or "<errno text>" when it cannot be read.
std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::string("<") + strerror(errno) + ">";
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// a == b, or what differs: sizes and the first differing offset (not two long dumps).
::testing::AssertionResult same(const std::string& a, const std::string& b) {
  if (a == b) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) i++;
  auto at = [i](const std::string& s) {
    std::string out;
    for (char c : s.substr(std::min(i, s.size()), 16)) out += c ? std::string(1, c) : std::string("\\0");
    return out;
  };
  return ::testing::AssertionFailure() << a.size() << " bytes vs " << b.size() << " bytes, first difference at " << i
                                       << ": \"" << at(a) << "\" vs \"" << at(b) << "\"";
}

// open(O_CREAT|O_WRONLY|O_TRUNC), write, close, as a shell's `>` does.
void put(const std::string& p, const std::string& data) {
  int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << p << ": " << strerror(errno);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size())) << strerror(errno);
  ASSERT_EQ(::close(fd), 0) << strerror(errno);
}

// fstat that asks the daemon, not the kernel's attribute cache.
int fstat_sync(int fd, struct statx* stx) {
  return ::statx(fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, stx);
}

std::string pread_all(int fd, size_t len, off_t off) {
  std::string s(len, '\0');
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, s.data() + got, len - got, off + static_cast<off_t>(got));
    if (n < 0) return std::string("<") + strerror(errno) + ">";
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  s.resize(got);
  return s;
}

// A MountFixture with an optional second mount of the same export: another client.
class Semantics : public MountFixture {
 protected:
  void TearDown() override {
    if (mounted2_) {
      auto r = netfs({"umount", mnt2_});
      if (r.status != 0) run({"fusermount3", "-u", "-z", mnt2_});
    }
    MountFixture::TearDown();
  }
  bool mount_second(const std::string& opts = "") {
    mnt2_ = work_ + "/mnt2";
    std::filesystem::create_directory(mnt2_);
    std::vector<std::string> args = {"mount", url(), mnt2_, "-o", "log=" + work_ + "/netfs2.log"};
    if (!opts.empty()) args.insert(args.end(), {"-o", opts});
    auto r = netfs(args);
    EXPECT_EQ(r.status, 0) << r.output;
    mounted2_ = r.status == 0;
    return mounted2_;
  }
  std::string path2(const std::string& rel) const { return mnt2_ + "/" + rel; }

  std::string mnt2_;
  bool mounted2_ = false;
};

// ---------------------------------------------------------------- open(O_TRUNC)

// The option sets every open path must handle O_TRUNC under (issue 16, finding 1).
enum class Flavour { kDefault, kDirectIo, kCacheDir, kZeroTimeouts };

std::string flavour_name(const ::testing::TestParamInfo<Flavour>& i) {
  switch (i.param) {
    case Flavour::kDefault: return "Default";
    case Flavour::kDirectIo: return "DirectIo";
    case Flavour::kCacheDir: return "CacheDir";
    case Flavour::kZeroTimeouts: return "ZeroTimeouts";
  }
  return "?";
}

class OpenTrunc : public Semantics, public ::testing::WithParamInterface<Flavour> {
 protected:
  // The options of this flavour; which = 2 for the second client (its own cache_dir).
  std::string opts(int which = 1) const {
    switch (GetParam()) {
      case Flavour::kDefault: return "";
      case Flavour::kDirectIo: return "direct_io";
      case Flavour::kCacheDir: return "cache_dir=" + work_ + "/cache" + std::to_string(which);
      case Flavour::kZeroTimeouts: return "attr_timeout=0,entry_timeout=0";
    }
    return "";
  }
};

// `printf ORIGINAL-LONGER-CONTENT > f; printf x > f` leaves "x", on the mount and on the
// server (it left "xRIGINAL-LONGER-CONTENT": open ignored O_TRUNC).
TEST_P(OpenTrunc, AShorterOverwriteLeavesOnlyTheNewBytes) {
  ASSERT_TRUE(mount(opts()));
  auto r = sh("cd " + mnt_ + " && printf ORIGINAL-LONGER-CONTENT > f && printf x > f && cat f");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "x");
  EXPECT_TRUE(same(slurp(server_path("f")), "x"));
  struct stat st;
  ASSERT_EQ(::stat(path("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1);
}

// cp of a 1,000-byte file over a 100,000-byte one leaves the 1,000 bytes.
TEST_P(OpenTrunc, CpOfASmallFileOverALargeOne) {
  ASSERT_TRUE(mount(opts()));
  std::string big = random_text(100000, 1), small = random_text(1000, 2);
  put(path("dst"), big);
  put(path("src"), small);
  auto r = run({"cp", path("src"), path("dst")});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(same(slurp(path("dst")), small));
  EXPECT_TRUE(same(slurp(server_path("dst")), small));
  struct stat st;
  ASSERT_EQ(::stat(path("dst").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1000);
}

// A second client that read the long file sees the short one at its next open.
TEST_P(OpenTrunc, ASecondClientSeesTheTruncatedFile) {
  ASSERT_TRUE(mount(opts(1)));
  ASSERT_TRUE(mount_second(opts(2)));
  std::string big = random_text(100000, 3), small = random_text(1000, 4);
  put(path("f"), big);
  ASSERT_TRUE(same(slurp(path2("f")), big));
  put(path("f"), small);
  EXPECT_TRUE(same(slurp(path2("f")), small));
  EXPECT_TRUE(same(slurp(server_path("f")), small));
}

// O_TRUNC cuts what another open file of ours wrote and has not yet written back (its
// dirty data must not land after the truncate and bring the old length back).
TEST_P(OpenTrunc, TruncatesWhatAnotherOpenFileHasNotWrittenBack) {
  ASSERT_TRUE(mount(opts()));
  std::string big = random_text(100000, 5);
  int fd1 = ::open(path("f").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd1, 0) << strerror(errno);
  ASSERT_EQ(::write(fd1, big.data(), big.size()), static_cast<ssize_t>(big.size()));
  put(path("f"), "x");
  ASSERT_EQ(::close(fd1), 0) << strerror(errno);
  EXPECT_TRUE(same(slurp(path("f")), "x"));
  EXPECT_TRUE(same(slurp(server_path("f")), "x"));
}

// O_TRUNC without writing (`: > f`) empties the file.
TEST_P(OpenTrunc, AnEmptyOverwriteEmptiesTheFile) {
  ASSERT_TRUE(mount(opts()));
  put(path("f"), random_text(5000, 6));
  auto r = sh(": > " + path("f"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(same(slurp(path("f")), ""));
  EXPECT_TRUE(same(slurp(server_path("f")), ""));
}

// open(O_TRUNC) marks the file modified, also when it was empty already (POSIX; a
// truncate to the same size would not move the server's mtime).
TEST_P(OpenTrunc, MarksTheFileModifiedEvenWhenItWasEmpty) {
  ASSERT_TRUE(mount(opts()));
  for (std::string before : {std::string("some bytes"), std::string()}) {
    put(path("f"), before);
    struct timespec old[2] = {{946684800, 0}, {946684800, 0}};  // 2000-01-01
    ASSERT_EQ(::utimensat(AT_FDCWD, path("f").c_str(), old, 0), 0) << strerror(errno);
    int fd = ::open(path("f").c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(::close(fd), 0);
    struct stat st;
    ASSERT_EQ(::stat(server_path("f").c_str(), &st), 0);
    EXPECT_GT(st.st_mtime, 946684800) << "was " << before.size() << " bytes";
    EXPECT_EQ(st.st_size, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Flavours, OpenTrunc,
                         ::testing::Values(Flavour::kDefault, Flavour::kDirectIo, Flavour::kCacheDir,
                                           Flavour::kZeroTimeouts),
                         flavour_name);

// ---------------------------------------------------------------- an open file whose name is gone

// Who removes the name of a file we hold open (issue 16, finding 2).
enum class Remover { kThisMount, kOtherClient, kServer };

std::string remover_name(const ::testing::TestParamInfo<Remover>& i) {
  switch (i.param) {
    case Remover::kThisMount: return "ThisMount";
    case Remover::kOtherClient: return "OtherClient";
    case Remover::kServer: return "Server";
  }
  return "?";
}

class NameGone : public Semantics, public ::testing::WithParamInterface<Remover> {
 protected:
  void SetUp() override {
    Semantics::SetUp();
    ASSERT_TRUE(mount());
    if (GetParam() == Remover::kOtherClient) {
      ASSERT_TRUE(mount_second());
    }
  }
  // rel, as the remover sees it.
  std::string removers_path(const std::string& rel) const {
    switch (GetParam()) {
      case Remover::kThisMount: return path(rel);
      case Remover::kOtherClient: return path2(rel);
      case Remover::kServer: return server_path(rel);
    }
    return "";
  }
};

// open, unlink, then fstat says st_nlink == 0 (not ENOENT), and the file stays readable
// and writable through the descriptor. It is made on the server, so that no byte of it is
// cached by the mount when the name goes: every read below reaches the server.
TEST_P(NameGone, AnUnlinkedOpenFileCanBeStatedReadAndWritten) {
  std::string data = random_text(300000, 7);
  std::ofstream(server_path("f"), std::ios::binary) << data;
  int fd = ::open(path("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << strerror(errno);
  struct statx before {};
  ASSERT_EQ(fstat_sync(fd, &before), 0) << strerror(errno);
  ASSERT_EQ(::unlink(removers_path("f").c_str()), 0) << strerror(errno);
  struct statx stx {};
  ASSERT_EQ(fstat_sync(fd, &stx), 0) << strerror(errno);
  EXPECT_EQ(stx.stx_nlink, 0u);
  EXPECT_EQ(stx.stx_ino, before.stx_ino);
  EXPECT_EQ(stx.stx_size, data.size());
  EXPECT_TRUE(same(pread_all(fd, data.size(), 0), data));
  std::string more = random_text(70000, 8);
  ASSERT_EQ(::pwrite(fd, more.data(), more.size(), static_cast<off_t>(data.size())),
            static_cast<ssize_t>(more.size()))
      << strerror(errno);
  ASSERT_EQ(::fsync(fd), 0) << strerror(errno);
  // The kernel's page cache would answer the read without asking the mount.
  ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  EXPECT_TRUE(same(pread_all(fd, data.size() + more.size(), 0), data + more));
  ASSERT_EQ(fstat_sync(fd, &stx), 0) << strerror(errno);
  EXPECT_EQ(stx.stx_nlink, 0u);
  EXPECT_EQ(stx.stx_size, data.size() + more.size());
  // diod truncates by path: a file with no name left cannot be cut (docs/semantics.md).
  EXPECT_NE(::ftruncate(fd, 10), 0);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(::close(fd), 0) << strerror(errno);
  // Another client's unlink reaches this mount's names when the kernel's entry timeout
  // (1 s) has passed: only our own is seen at once.
  struct stat st;
  if (GetParam() == Remover::kThisMount) {
    EXPECT_NE(::stat(path("f").c_str(), &st), 0);
  }
}

// A file renamed over while we hold it open: the descriptor still shows the old file
// (its inode number, its size, st_nlink == 0) and reads its bytes, and the name gives the
// new file (fstat reported the new file's inode number with the old size).
TEST_P(NameGone, ADescriptorOfAFileRenamedOverKeepsTheOldFile) {
  std::string old_data = random_text(1000, 9), new_data = random_text(5000, 10);
  std::ofstream(server_path("f"), std::ios::binary) << old_data;
  int fd = ::open(path("f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  struct statx before {};
  ASSERT_EQ(fstat_sync(fd, &before), 0) << strerror(errno);
  {
    std::ofstream out(removers_path("g"), std::ios::binary);
    out << new_data;
  }
  ASSERT_EQ(::rename(removers_path("g").c_str(), removers_path("f").c_str()), 0) << strerror(errno);
  struct statx stx {};
  ASSERT_EQ(fstat_sync(fd, &stx), 0) << strerror(errno);
  EXPECT_EQ(stx.stx_ino, before.stx_ino);
  EXPECT_EQ(stx.stx_size, old_data.size());
  EXPECT_EQ(stx.stx_nlink, 0u);
  EXPECT_TRUE(same(pread_all(fd, 10000, 0), old_data));
  EXPECT_EQ(::close(fd), 0);
  EXPECT_TRUE(same(slurp(server_path("f")), new_data));
}

// ftruncate of a file someone renamed another file over cuts nothing it should not: the
// server (diod) truncates by path, and the path the file was opened by now names the
// other file, which it used to cut. Now the mount finds no name for the file and the
// truncate fails (ENOENT, docs/semantics.md), and the other file keeps its bytes.
TEST_P(NameGone, TruncatingAFileRenamedOverLeavesTheOtherFileAlone) {
  std::string old_data = random_text(1000, 11), new_data = random_text(5000, 12);
  std::ofstream(server_path("f"), std::ios::binary) << old_data;
  int fd = ::open(path("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << strerror(errno);
  std::ofstream(removers_path("g"), std::ios::binary) << new_data;
  ASSERT_EQ(::rename(removers_path("g").c_str(), removers_path("f").c_str()), 0) << strerror(errno);
  EXPECT_NE(::ftruncate(fd, 10), 0);
  EXPECT_EQ(::close(fd), 0);
  EXPECT_TRUE(same(slurp(server_path("f")), new_data));
}

INSTANTIATE_TEST_SUITE_P(Removers, NameGone,
                         ::testing::Values(Remover::kThisMount, Remover::kOtherClient, Remover::kServer),
                         remover_name);

}  // namespace
}  // namespace netfs::testing
