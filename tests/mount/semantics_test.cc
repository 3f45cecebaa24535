// POSIX semantics of the mount, one test per line of docs/semantics.md: real syscalls on a
// real FUSE mount of a real diod, with a second mount of the same export where the line
// is about what another client sees, and as an unprivileged user where permissions are the
// subject. A test named in docs/semantics.md must exist here (or in the file it names).
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <regex>
#include <set>
#include <sstream>

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

  // Runs body as nobody (uid and gid 65534, no supplementary groups) in a forked child;
  // its exit code: 0 when every step behaved, else the number of the step that did not.
  int as_nobody(const std::function<int()>& body) {
    pid_t pid = fork();
    if (pid == 0) {
      if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
          setresuid(kNobody, kNobody, kNobody) != 0)
        _exit(100);
      _exit(body());
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }
  // A mount other users may enter (allow_other implies default_permissions).
  void mount_for_others(const std::string& opts = "allow_other") {
    ASSERT_TRUE(mount(opts));
    ASSERT_EQ(::chmod(work_.c_str(), 0711), 0);  // mkdtemp's 0700 would stop them on the way in
  }

  static constexpr uid_t kNobody = 65534;
  std::string mnt2_;
  bool mounted2_ = false;
};

// Each check returns its step number when errno is not what it should be.
#define STEP(n, cond) \
  do {                \
    errno = 0;        \
    if (!(cond)) return n; \
  } while (0)

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

// An open file whose name is gone can be opened again through /proc/self/fd (as tools
// that rescue a deleted file do), for reading and writing; it used to fail with ENOENT.
TEST_P(NameGone, AnOpenFileWithoutANameOpensAgainThroughProc) {
  std::string data = random_text(150000, 16);
  std::ofstream(server_path("f"), std::ios::binary) << data;
  int fd = ::open(path("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(::unlink(removers_path("f").c_str()), 0) << strerror(errno);
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  int again = ::open(proc.c_str(), O_RDWR);
  ASSERT_GE(again, 0) << strerror(errno);
  EXPECT_TRUE(same(pread_all(again, data.size(), 0), data));
  ASSERT_EQ(::pwrite(again, "NEW", 3, 0), 3);
  EXPECT_TRUE(same(pread_all(fd, 3, 0), "NEW"));
  EXPECT_EQ(::close(again), 0);
  EXPECT_EQ(::close(fd), 0);
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

// An open file whose server is gone is not taken for one whose name is gone: fstat
// fails (it reported st_nlink 0 when the getattr failed for any reason).
TEST_F(Semantics, FstatOfAnOpenFileFailsWhileTheServerIsGone) {
  ASSERT_TRUE(mount("timeout=500ms"));
  put(path("f"), "x");
  int fd = ::open(path("f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  diod_->kill_hard();
  struct statx stx {};
  EXPECT_NE(fstat_sync(fd, &stx), 0) << "st_nlink " << stx.stx_nlink;
  ::close(fd);
  ASSERT_TRUE(diod_->start()) << diod_->error();
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


// A name the kernel still trusts (entry_timeout) that the server now gives to another file
// (renamed over it there), reached through a node whose fid was the file's open fid: stat
// and open took the other file's attributes as this node's (its inode number with the
// other file's size, then our cached bytes cut or padded to it). Now the mount answers
// ESTALE and the kernel looks the name up again.
TEST_F(Semantics, ANameRenamedOverOnTheServerIsLookedUpAgain) {
  ASSERT_TRUE(mount("attr_timeout=0,entry_timeout=60"));
  std::string old_data = random_text(3000, 21), new_data = random_text(7000, 22);
  put(path("f"), old_data);
  struct stat before {};
  ASSERT_EQ(::stat(path("f").c_str(), &before), 0) << strerror(errno);
  std::ofstream(server_path("g"), std::ios::binary) << new_data;
  ASSERT_EQ(::rename(server_path("g").c_str(), server_path("f").c_str()), 0) << strerror(errno);
  struct stat after {};
  ASSERT_EQ(::stat(path("f").c_str(), &after), 0) << strerror(errno);
  EXPECT_EQ(static_cast<size_t>(after.st_size), new_data.size());
  EXPECT_NE(after.st_ino, before.st_ino);
  EXPECT_TRUE(same(slurp(path("f")), new_data));
}

// A directory removed on the server while a process holds it open: a lookup in it fails
// with ENOENT, the server's answer. The mount sent the lookup on no fid at all (its fid
// could not be walked again: no name leads there) and answered EBADF.
TEST_F(Semantics, ALookupInADirectoryRemovedElsewhereIsENOENT) {
  ASSERT_TRUE(mount("attr_timeout=0,entry_timeout=60"));
  ASSERT_EQ(::mkdir(path("d").c_str(), 0755), 0) << strerror(errno);
  int dfd = ::open(path("d").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0) << strerror(errno);
  ASSERT_EQ(::rmdir(server_path("d").c_str()), 0) << strerror(errno);
  struct stat st {};
  (void)::fstat(dfd, &st);  // the mount learns that the name is gone
  errno = 0;
  EXPECT_LT(::openat(dfd, "y", O_RDONLY), 0);
  EXPECT_EQ(errno, ENOENT) << strerror(errno);
  ::close(dfd);
}

// ---------------------------------------------------------------- open flags

// O_APPEND writes at the end, each write whole, also from two descriptors in turn.
TEST_F(Semantics, AppendWritesAtTheEnd) {
  ASSERT_TRUE(mount());
  put(path("f"), "abc");
  int a = ::open(path("f").c_str(), O_WRONLY | O_APPEND);
  int b = ::open(path("f").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(::write(a, "AA", 2), 2);
    ASSERT_EQ(::write(b, "B", 1), 1);
  }
  ASSERT_EQ(::close(a), 0);
  ASSERT_EQ(::close(b), 0);
  EXPECT_TRUE(same(slurp(path("f")), "abcAABAABAAB"));
  EXPECT_TRUE(same(slurp(server_path("f")), "abcAABAABAAB"));
}

// Appends from two clients in turn (each closes before the other opens) land one after
// the other when the kernel learns the size at each open: with entry_timeout=0 it looks
// the name up again, and the lookup brings the size. (The kernel appends at the size it
// knows and asks nothing for an O_APPEND write; with the default timeouts that size may
// be up to 1 s old, and another client's append in that second is overwritten.)
TEST_F(Semantics, AppendsFromTwoClientsInTurnFollowEachOther) {
  ASSERT_TRUE(mount("attr_timeout=0,entry_timeout=0"));
  ASSERT_TRUE(mount_second("attr_timeout=0,entry_timeout=0"));
  put(path("f"), "1");
  std::string want = "1";
  for (int i = 0; i < 4; i++) {
    const std::string& p = i % 2 ? path("f") : path2("f");
    std::string piece = std::string(i + 2, char('a' + i));
    int fd = ::open(p.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(::write(fd, piece.data(), piece.size()), static_cast<ssize_t>(piece.size()));
    ASSERT_EQ(::close(fd), 0);
    want += piece;
  }
  EXPECT_TRUE(same(slurp(server_path("f")), want));
  EXPECT_TRUE(same(slurp(path("f")), want));
  EXPECT_TRUE(same(slurp(path2("f")), want));
}

// O_CREAT|O_EXCL fails with EEXIST on a name that exists, also one another client made
// that this mount has never looked at.
TEST_F(Semantics, ExclusiveCreateFailsOnANameAnotherClientMade) {
  ASSERT_TRUE(mount());
  ASSERT_TRUE(mount_second());
  put(path2("f"), "theirs");
  errno = 0;
  EXPECT_LT(::open(path("f").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644), 0);
  EXPECT_EQ(errno, EEXIST);
  int fd = ::open(path("g").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(::close(fd), 0);
  errno = 0;
  EXPECT_LT(::open(path2("g").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644), 0);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_TRUE(same(slurp(server_path("f")), "theirs"));
}

// O_CREAT without O_EXCL opens an existing file as it is (its bytes and mode); a new one
// gets the mode asked for less the umask.
TEST_F(Semantics, CreateOpensAnExistingFileAsItIsAndANewOneWithModeLessUmask) {
  ASSERT_TRUE(mount());
  put(path("f"), "kept");
  ASSERT_EQ(::chmod(path("f").c_str(), 0600), 0);
  int fd = ::open(path("f").c_str(), O_CREAT | O_RDWR, 0666);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(::close(fd), 0);
  EXPECT_TRUE(same(slurp(path("f")), "kept"));
  struct stat st;
  ASSERT_EQ(::stat(server_path("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  mode_t old = ::umask(027);
  fd = ::open(path("new").c_str(), O_CREAT | O_WRONLY, 0666);
  ::umask(old);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(::close(fd), 0);
  ASSERT_EQ(::stat(server_path("new").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

// ---------------------------------------------------------------- truncate

// truncate shrinks and extends (with zeroes); the server and a second client see both
// at its next open.
TEST_F(Semantics, TruncateShrinksAndExtendsForEveryClient) {
  ASSERT_TRUE(mount());
  ASSERT_TRUE(mount_second());
  std::string data = random_text(100000, 13);
  put(path("f"), data);
  ASSERT_TRUE(same(slurp(path2("f")), data));
  ASSERT_EQ(::truncate(path("f").c_str(), 5000), 0) << strerror(errno);
  ASSERT_EQ(::truncate(path("f").c_str(), 20000), 0) << strerror(errno);
  std::string want = data.substr(0, 5000) + std::string(15000, '\0');
  EXPECT_TRUE(same(slurp(path("f")), want));
  EXPECT_TRUE(same(slurp(server_path("f")), want));
  EXPECT_TRUE(same(slurp(path2("f")), want));
}

// ---------------------------------------------------------------- coherency

// Close-to-open: what one client wrote and closed, another reads at its next open, also
// when it had the older bytes cached.
TEST_F(Semantics, ASecondClientReadsWhatTheFirstClosedAtItsNextOpen) {
  ASSERT_TRUE(mount());
  ASSERT_TRUE(mount_second());
  std::string v1 = random_text(200000, 14), v2 = random_text(200000, 15);
  put(path("f"), v1);
  ASSERT_TRUE(same(slurp(path2("f")), v1));
  put(path("f"), v2);
  EXPECT_TRUE(same(slurp(path2("f")), v2));
}

// Names: the kernel trusts a name for entry_timeout; with 0 another client's create and
// unlink are seen at once.
TEST_F(Semantics, WithZeroTimeoutsAnotherClientsNamesAreSeenAtOnce) {
  ASSERT_TRUE(mount("attr_timeout=0,entry_timeout=0"));
  ASSERT_TRUE(mount_second());
  struct stat st;
  errno = 0;
  EXPECT_NE(::stat(path("f").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
  put(path2("f"), "theirs");
  ASSERT_EQ(::stat(path("f").c_str(), &st), 0) << strerror(errno);
  EXPECT_EQ(st.st_size, 6);
  ASSERT_EQ(::unlink(path2("f").c_str()), 0);
  errno = 0;
  EXPECT_NE(::stat(path("f").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
}

// ---------------------------------------------------------------- symlinks

// A symlink keeps its target verbatim (relative or absolute, dangling or not), lstat
// shows the link and stat what it leads to; the server and another client see the same.
TEST_F(Semantics, SymlinksKeepTheirTargetAndAreFollowed) {
  ASSERT_TRUE(mount());
  ASSERT_TRUE(mount_second());
  put(path("f"), "via link");
  ASSERT_EQ(::mkdir(path("d").c_str(), 0755), 0);
  put(path("d/in"), "in d");
  ASSERT_EQ(::symlink("f", path("l").c_str()), 0);
  ASSERT_EQ(::symlink("nowhere/at/all", path("dangling").c_str()), 0);
  ASSERT_EQ(::symlink("d", path("ld").c_str()), 0);
  char buf[256];
  for (const auto& [name, target] : {std::pair{"l", "f"}, std::pair{"dangling", "nowhere/at/all"}}) {
    for (const std::string& p : {path(name), path2(name), server_path(name)}) {
      ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
      ASSERT_GT(n, 0) << p;
      EXPECT_EQ(std::string(buf, n), target) << p;
    }
    struct stat st;
    ASSERT_EQ(::lstat(path(name).c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    EXPECT_EQ(static_cast<size_t>(st.st_size), strlen(target));
  }
  EXPECT_TRUE(same(slurp(path("l")), "via link"));
  EXPECT_TRUE(same(slurp(path2("ld/in")), "in d"));
  struct stat st;
  errno = 0;
  EXPECT_NE(::stat(path("dangling").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
  ASSERT_EQ(::unlink(path("l").c_str()), 0);
  EXPECT_TRUE(same(slurp(path("f")), "via link"));  // removing the link leaves the file
}

// ---------------------------------------------------------------- permissions (as nobody)

// With default_permissions (implied by allow_other) the kernel checks another user's
// access against the modes: no reading a 0600 file of root's, no creating in root's
// 0755 directory, no chmod or chown of what is not theirs; what the modes allow works
// and what they create is theirs on the server.
TEST_F(Semantics, AnotherUserGetsWhatTheModesAllow) {
  ASSERT_EQ(geteuid(), 0u) << "the test needs root to change user";
  mount_for_others();
  put(path("secret"), "root's");
  ASSERT_EQ(::chmod(path("secret").c_str(), 0600), 0);
  put(path("public"), "everyone's");
  ASSERT_EQ(::chmod(path("public").c_str(), 0644), 0);
  ASSERT_EQ(::mkdir(path("closed").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(path("open").c_str(), 0777), 0);
  ASSERT_EQ(::chmod(path("open").c_str(), 0777), 0);  // past the umask
  int r = as_nobody([&]() -> int {
    STEP(1, ::open(path("secret").c_str(), O_RDONLY) < 0 && errno == EACCES);
    STEP(2, ::open(path("public").c_str(), O_WRONLY) < 0 && errno == EACCES);
    int fd = ::open(path("public").c_str(), O_RDONLY);
    STEP(3, fd >= 0);
    ::close(fd);
    STEP(4, ::open(path("closed/x").c_str(), O_CREAT | O_WRONLY, 0644) < 0 && errno == EACCES);
    STEP(5, ::chmod(path("public").c_str(), 0666) != 0 && errno == EPERM);
    fd = ::open(path("open/mine").c_str(), O_CREAT | O_WRONLY, 0644);
    STEP(6, fd >= 0);
    ::close(fd);
    STEP(7, ::chmod(path("open/mine").c_str(), 0600) == 0);
    STEP(8, ::chown(path("open/mine").c_str(), 0, 0) != 0 && errno == EPERM);
    STEP(9, ::unlink(path("public").c_str()) != 0 && errno == EACCES);
    return 0;
  });
  ASSERT_EQ(r, 0) << "step " << r << " went otherwise";
  struct stat st;
  ASSERT_EQ(::stat(server_path("open/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_TRUE(same(slurp(server_path("public")), "everyone's"));
}

// Root may give a file away: chown reaches the server.
TEST_F(Semantics, RootChangesOwnership) {
  ASSERT_TRUE(mount());
  put(path("f"), "x");
  ASSERT_EQ(::chown(path("f").c_str(), 4321, 4322), 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(::stat(server_path("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4321u);
  EXPECT_EQ(st.st_gid, 4322u);
  ASSERT_EQ(::stat(path("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4321u);
}

// In a sticky (1777) directory a user may remove or rename only their own entries.
TEST_F(Semantics, AStickyDirectoryKeepsOthersFromRemovingWhatIsNotTheirs) {
  ASSERT_EQ(geteuid(), 0u) << "the test needs root to change user";
  mount_for_others();
  ASSERT_EQ(::mkdir(path("tmp").c_str(), 0777), 0);
  ASSERT_EQ(::chmod(path("tmp").c_str(), 01777), 0);
  put(path("tmp/roots"), "r");
  ASSERT_EQ(::chmod(path("tmp/roots").c_str(), 0666), 0);
  int r = as_nobody([&]() -> int {
    STEP(1, ::unlink(path("tmp/roots").c_str()) != 0 && errno == EPERM);
    STEP(2, ::rename(path("tmp/roots").c_str(), path("tmp/moved").c_str()) != 0 && errno == EPERM);
    int fd = ::open(path("tmp/mine").c_str(), O_CREAT | O_WRONLY, 0644);
    STEP(3, fd >= 0);
    ::close(fd);
    STEP(4, ::rename(path("tmp/mine").c_str(), path("tmp/mine2").c_str()) == 0);
    STEP(5, ::unlink(path("tmp/mine2").c_str()) == 0);
    return 0;
  });
  ASSERT_EQ(r, 0) << "step " << r << " went otherwise";
  EXPECT_TRUE(same(slurp(server_path("tmp/roots")), "r"));
}

// ---------------------------------------------------------------- timestamps

// utimensat sets atime and mtime to the nanosecond, on the server too; a write moves
// mtime (seen by another client at its next open) and chmod moves ctime.
TEST_F(Semantics, TimestampsAreSetExactlyAndMoveWithChanges) {
  ASSERT_TRUE(mount());
  ASSERT_TRUE(mount_second());
  put(path("f"), "x");
  struct timespec ts[2] = {{1000000000, 123456789}, {1100000000, 987654321}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path("f").c_str(), ts, 0), 0) << strerror(errno);
  for (const std::string& p : {path("f"), server_path("f")}) {
    struct stat st;
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_atim.tv_sec, 1000000000) << p;
    EXPECT_EQ(st.st_atim.tv_nsec, 123456789) << p;
    EXPECT_EQ(st.st_mtim.tv_sec, 1100000000) << p;
    EXPECT_EQ(st.st_mtim.tv_nsec, 987654321) << p;
  }
  struct stat before;
  ASSERT_EQ(::stat(server_path("f").c_str(), &before), 0);
  int fd = ::open(path("f").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "y", 1), 1);
  ASSERT_EQ(::close(fd), 0);
  struct stat after;
  ASSERT_EQ(::stat(server_path("f").c_str(), &after), 0);
  EXPECT_GT(after.st_mtime, 1100000000);
  fd = ::open(path2("f").c_str(), O_RDONLY);  // close-to-open: the open asks the server
  ASSERT_GE(fd, 0);
  struct statx stx {};
  ASSERT_EQ(fstat_sync(fd, &stx), 0);
  ::close(fd);
  EXPECT_EQ(stx.stx_mtime.tv_sec, after.st_mtim.tv_sec);
  EXPECT_EQ(stx.stx_mtime.tv_nsec, static_cast<uint32_t>(after.st_mtim.tv_nsec));
  struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, server_path("f").c_str(), old_times, 0), 0);
  ASSERT_EQ(::stat(server_path("f").c_str(), &before), 0);
  ASSERT_EQ(::chmod(path("f").c_str(), 0640), 0);
  ASSERT_EQ(::stat(server_path("f").c_str(), &after), 0);
  EXPECT_TRUE(after.st_ctim.tv_sec > before.st_ctim.tv_sec ||
              (after.st_ctim.tv_sec == before.st_ctim.tv_sec && after.st_ctim.tv_nsec > before.st_ctim.tv_nsec));
  EXPECT_EQ(after.st_mtime, 1000000000);  // chmod leaves mtime
}

// ---------------------------------------------------------------- names and paths

// A name of 255 bytes works (create, stat, list, remove); 256 is ENAMETOOLONG.
TEST_F(Semantics, NamesUpTo255Bytes) {
  ASSERT_TRUE(mount());
  std::string name(255, 'n');
  put(path(name), "long");
  struct stat st;
  EXPECT_EQ(::stat(path(name).c_str(), &st), 0);
  bool listed = false;
  for (auto& e : std::filesystem::directory_iterator(mnt_)) listed |= e.path().filename() == name;
  EXPECT_TRUE(listed);
  EXPECT_TRUE(same(slurp(server_path(name)), "long"));
  EXPECT_EQ(::unlink(path(name).c_str()), 0);
  errno = 0;
  EXPECT_LT(::open(path(name + "x").c_str(), O_CREAT | O_WRONLY, 0644), 0);
  EXPECT_EQ(errno, ENAMETOOLONG);
}

// Directories nest as deep as the server's paths allow: diod names files by their full
// path, so a path whose length on the server (the export's own path included) passes
// PATH_MAX (4096) fails with ENAMETOOLONG; everything shorter works.
TEST_F(Semantics, DeepPathsWorkUpToTheServersPathMax) {
  ASSERT_TRUE(mount());
  const std::string comp(200, 'd');
  int dir = ::open(mnt_.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dir, 0);
  size_t server_len = diod_->dir().size();
  int depth = 0;
  for (;;) {
    int r = ::mkdirat(dir, comp.c_str(), 0755);
    if (r != 0) {
      EXPECT_EQ(errno, ENAMETOOLONG) << "at depth " << depth << ", " << server_len << " bytes on the server";
      EXPECT_GT(server_len + 1 + comp.size(), 4000u) << "failed before the server's limit";
      break;
    }
    server_len += 1 + comp.size();
    depth++;
    int next = ::openat(dir, comp.c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(next, 0) << strerror(errno) << " at depth " << depth;
    ::close(dir);
    dir = next;
    ASSERT_LT(depth, 100);
  }
  // The deepest directory holds a file like any other.
  int fd = ::openat(dir, "f", O_CREAT | O_WRONLY, 0644);
  if (server_len + 2 < 4096) {
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(::write(fd, "deep", 4), 4);
    ASSERT_EQ(::close(fd), 0);
  } else if (fd >= 0) {
    ::close(fd);
  }
  ::close(dir);
  std::printf("directories of 200-byte names nest %d deep (%zu bytes on the server)\n", depth, server_len);
  EXPECT_GE(depth, 15);
}

// ---------------------------------------------------------------- special files

// A fifo is made on the server and passes data between processes on the same mount (the
// kernel's pipe; no data goes to the server).
TEST_F(Semantics, AFifoWorksBetweenProcessesOfOneMount) {
  ASSERT_TRUE(mount());
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(::stat(server_path("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = ::open(path("fifo").c_str(), O_WRONLY);
    _exit(fd >= 0 && ::write(fd, "through the fifo", 16) == 16 ? 0 : 1);
  }
  int fd = ::open(path("fifo").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  char buf[64];
  std::string got;
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) got.append(buf, n);
  ::close(fd);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(got, "through the fifo");
}

// Device nodes are made on the server with their numbers (as root), but the mount is
// nodev by default, so they cannot be opened through it.
TEST_F(Semantics, DeviceNodesAreMadeButNotOpenedOnANodevMount) {
  ASSERT_TRUE(mount());
  ASSERT_EQ(::mknod(path("null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << strerror(errno);
  for (const std::string& p : {path("null"), server_path("null")}) {
    struct stat st;
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << p;
    EXPECT_EQ(st.st_rdev, makedev(1, 3)) << p;
  }
  errno = 0;
  EXPECT_LT(::open(path("null").c_str(), O_WRONLY), 0);
  EXPECT_EQ(errno, EACCES);
}

// A Unix socket can be bound at a path on the mount (the node is made on the server) and
// connected to from this machine; it is the kernel's, not shared between clients.
TEST_F(Semantics, AUnixSocketCanBeBoundAndConnectedTo) {
  ASSERT_TRUE(mount());
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string p = path("sock");
  ASSERT_LT(p.size(), sizeof sa.sun_path);
  memcpy(sa.sun_path, p.c_str(), p.size() + 1);
  int srv = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::bind(srv, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
  ASSERT_EQ(::listen(srv, 1), 0);
  int cli = ::socket(AF_UNIX, SOCK_STREAM, 0);
  EXPECT_EQ(::connect(cli, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
  ::close(cli);
  ::close(srv);
  struct stat st;
  ASSERT_EQ(::stat(server_path("sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
}

// ---------------------------------------------------------------- not supported

// What the mount does not do, and says so with an error instead of pretending:
// fallocate and O_TMPFILE (no FUSE operation for them here; 9P2000.L has no message for
// either), RENAME_EXCHANGE (no 9P message).
TEST_F(Semantics, WhatIsNotSupportedFailsCleanly) {
  ASSERT_TRUE(mount());
  put(path("f"), "x");
  put(path("g"), "y");
  int fd = ::open(path("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  errno = 0;
  EXPECT_NE(::fallocate(fd, 0, 0, 1 << 20), 0);
  EXPECT_EQ(errno, EOPNOTSUPP);
  ::close(fd);
  errno = 0;
  EXPECT_LT(::open(mnt_.c_str(), O_TMPFILE | O_RDWR, 0600), 0);
  EXPECT_EQ(errno, EOPNOTSUPP);
  errno = 0;
  EXPECT_NE(renameat2(AT_FDCWD, path("f").c_str(), AT_FDCWD, path("g").c_str(), RENAME_EXCHANGE), 0);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_TRUE(same(slurp(server_path("f")), "x"));
}


// ---------------------------------------------------------------- the document

// docs/semantics.md names, in the last cell of every row, the tests that show it: each
// must exist (TEST_F / TEST_P in tests/), so that no line of it goes untested by a rename.
// A row whose test cell is "—" is a line still to be written (listed, not failed).
TEST(SemanticsDoc, EveryTestItNamesExists) {
  std::ifstream doc(std::string(NETFS_SOURCE_DIR) + "/docs/semantics.md");
  ASSERT_TRUE(doc) << "docs/semantics.md";
  std::string sources;
  for (auto& e : std::filesystem::recursive_directory_iterator(std::string(NETFS_SOURCE_DIR) + "/tests"))
    if (e.path().extension() == ".cc") {
      std::ifstream in(e.path());
      sources += std::string((std::istreambuf_iterator<char>(in)), {});
    }
  const std::regex name(R"(^(?:[A-Za-z]+/)?([A-Z][A-Za-z0-9]+)\.([A-Za-z0-9*]+)(?:/.*)?$)");
  const std::regex code("`([^`]+)`");
  int rows = 0, named = 0;
  std::string line;
  while (std::getline(doc, line)) {
    if (line.rfind("| ", 0) != 0 || line.rfind("|---", 0) == 0 || line.rfind("| behaviour", 0) == 0 ||
        line.rfind("| what |", 0) == 0)
      continue;
    rows++;
    std::string cell = line.substr(line.rfind('|', line.size() - 2) + 1);
    if (cell.find("—") != std::string::npos && cell.find('`') == std::string::npos) {
      std::printf("not yet tested: %s\n", line.substr(0, 80).c_str());
      continue;
    }
    int here = 0;
    for (std::sregex_iterator it(cell.begin(), cell.end(), code), end; it != end; ++it) {
      std::smatch m;
      std::string token = (*it)[1];
      if (!std::regex_match(token, m, name)) continue;
      here++;
      std::string suite = m[1], test = m[2];
      if (test == "*") {
        EXPECT_TRUE(sources.find("(" + suite + ",") != std::string::npos) << "no tests of " << suite;
      } else {
        EXPECT_TRUE(sources.find("(" + suite + ", " + test + ")") != std::string::npos) << "no test " << token;
      }
    }
    EXPECT_GT(here, 0) << "a row names no test: " << line;
    named += here;
  }
  EXPECT_GT(rows, 40);
  std::printf("%d rows, %d tests named\n", rows, named);
}

}  // namespace
}  // namespace netfs::testing
