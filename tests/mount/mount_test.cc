// The mount as programs see it: real syscalls on a real FUSE mount of a real diod.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include "fakes/eventually.h"
#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

void write_file(const std::string& p, const std::vector<char>& data) {
  int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, std::min<size_t>(data.size() - done, 100000));
    ASSERT_GT(n, 0) << strerror(errno);
    done += static_cast<size_t>(n);
  }
  ASSERT_EQ(::close(fd), 0) << strerror(errno);
}

using Mount = MountFixture;

TEST_F(Mount, WriteThenReadBackAndOnTheServer) {
  ASSERT_TRUE(mount());
  auto data = random_bytes(5 << 20, 1);
  write_file(path("f"), data);
  EXPECT_EQ(slurp(path("f")), data);
  // close() wrote it back: the server holds it now.
  EXPECT_EQ(slurp(server_path("f")), data);
  struct stat st;
  ASSERT_EQ(::stat(path("f").c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), data.size());
}

TEST_F(Mount, ReadsWhatTheServerHolds) {
  auto data = random_bytes(3 << 20, 2);
  {
    std::ofstream out(server_path("pre"), std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  ASSERT_TRUE(mount());
  EXPECT_EQ(slurp(path("pre")), data);
  EXPECT_GT(stat("download_bytes"), 0u);
}

TEST_F(Mount, MkdirReaddirAndRenameOfADirectoryWithChildren) {
  ASSERT_TRUE(mount());
  ASSERT_EQ(::mkdir(path("a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(path("a/b").c_str(), 0755), 0);
  std::set<std::string> want;
  for (int i = 0; i < 50; i++) {
    std::string n = "file" + std::to_string(i);
    write_file(path("a/b/" + n), {'x', char('0' + i % 10)});
    want.insert(n);
  }
  std::set<std::string> got;
  for (auto& e : std::filesystem::directory_iterator(path("a/b"))) got.insert(e.path().filename());
  EXPECT_EQ(got, want);
  ASSERT_EQ(::rename(path("a").c_str(), path("z").c_str()), 0);
  // Nodes below the moved directory still work (their fids were renewed).
  EXPECT_EQ(slurp(path("z/b/file7")), (std::vector<char>{'x', '7'}));
  write_file(path("z/b/new"), {'n'});
  EXPECT_EQ(slurp(server_path("z/b/new")), std::vector<char>{'n'});
  EXPECT_FALSE(std::filesystem::exists(server_path("a")));
  ASSERT_EQ(::rename(path("z/b/file1").c_str(), path("z/renamed").c_str()), 0);
  EXPECT_EQ(slurp(path("z/renamed")), (std::vector<char>{'x', '1'}));
  ASSERT_EQ(::unlink(path("z/renamed").c_str()), 0);
  EXPECT_FALSE(std::filesystem::exists(server_path("z/renamed")));
  EXPECT_NE(::rmdir(path("z/b").c_str()), 0);
  EXPECT_EQ(errno, ENOTEMPTY);
}

TEST_F(Mount, RenameNoreplaceAndExchange) {
  ASSERT_TRUE(mount());
  write_file(path("a"), {'a'});
  write_file(path("b"), {'b'});
  EXPECT_NE(renameat2(AT_FDCWD, path("a").c_str(), AT_FDCWD, path("b").c_str(), RENAME_NOREPLACE), 0);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(renameat2(AT_FDCWD, path("a").c_str(), AT_FDCWD, path("c").c_str(), RENAME_NOREPLACE), 0);
  EXPECT_NE(renameat2(AT_FDCWD, path("b").c_str(), AT_FDCWD, path("c").c_str(), RENAME_EXCHANGE), 0);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(Mount, TruncateShrinksAndExtends) {
  ASSERT_TRUE(mount());
  auto data = random_bytes(300000, 3);
  write_file(path("t"), data);
  ASSERT_EQ(::truncate(path("t").c_str(), 100001), 0);
  data.resize(100001);
  EXPECT_EQ(slurp(path("t")), data);
  EXPECT_EQ(slurp(server_path("t")), data);
  ASSERT_EQ(::truncate(path("t").c_str(), 200000), 0);
  data.resize(200000, 0);
  EXPECT_EQ(slurp(path("t")), data);
  int fd = ::open(path("t").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "abc", 3, 50000), 3);
  ASSERT_EQ(::ftruncate(fd, 50002), 0);  // cuts through the dirty bytes
  ASSERT_EQ(::close(fd), 0);
  data.resize(50002);
  data[50000] = 'a';
  data[50001] = 'b';
  EXPECT_EQ(slurp(path("t")), data);
  EXPECT_EQ(slurp(server_path("t")), data);
}

TEST_F(Mount, FsyncPutsDataOnTheServerBeforeClose) {
  ASSERT_TRUE(mount("writeback_delay=3600s"));
  auto data = random_bytes(1 << 20, 4);
  int fd = ::open(path("s").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  EXPECT_GT(stat("mem_dirty_bytes"), 0u);
  ASSERT_EQ(::fsync(fd), 0);
  EXPECT_EQ(slurp(server_path("s")), data);
  EXPECT_EQ(stat("mem_dirty_bytes"), 0u);
  ::close(fd);
}

TEST_F(Mount, SharedWritableMmapReachesTheServer) {
  ASSERT_TRUE(mount());
  auto data = random_bytes(256 << 10, 5);
  write_file(path("m"), data);
  int fd = ::open(path("m").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  auto* p = static_cast<char*>(mmap(nullptr, data.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(p, MAP_FAILED) << strerror(errno);
  EXPECT_EQ(std::memcmp(p, data.data(), data.size()), 0);
  std::memcpy(p + 70000, "mapped!", 7);
  std::memcpy(data.data() + 70000, "mapped!", 7);
  ASSERT_EQ(msync(p, data.size(), MS_SYNC), 0);
  munmap(p, data.size());
  ::close(fd);
  EXPECT_EQ(slurp(server_path("m")), data);
}

TEST_F(Mount, ShuffledSmallWritesLeaveAsFullSizeRpcs) {
  ASSERT_TRUE(mount("writeback_delay=3600s"));
  constexpr size_t kBlock = 4096, kTotal = 64 << 20;
  std::vector<size_t> order(kTotal / kBlock);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(6));
  auto block = random_bytes(kBlock, 6);
  int fd = ::open(path("shuf").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  for (size_t i : order) ASSERT_EQ(::pwrite(fd, block.data(), kBlock, static_cast<off_t>(i * kBlock)), ssize_t(kBlock));
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
  uint64_t subs = stat("upload_subreqs"), bytes = stat("upload_bytes"), msize = stat("p9_msize");
  ASSERT_GT(subs, 0u);
  EXPECT_EQ(bytes, kTotal);
  double fill = double(bytes) / double(subs) / double(msize);
  EXPECT_GE(fill, 0.9) << subs << " write RPCs for " << bytes << " bytes, msize " << msize;
  RecordProperty("rpc_fill", std::to_string(fill));
}

TEST_F(Mount, XattrsSymlinksHardLinksAndMknod) {
  ASSERT_TRUE(mount());
  write_file(path("f"), {'1', '2'});
  ASSERT_EQ(::symlink("f", path("l").c_str()), 0);
  char buf[64] = {};
  ASSERT_EQ(::readlink(path("l").c_str(), buf, sizeof buf), 1);
  EXPECT_EQ(std::string(buf), "f");
  EXPECT_EQ(slurp(path("l")), (std::vector<char>{'1', '2'}));
  ASSERT_EQ(::link(path("f").c_str(), path("h").c_str()), 0);
  struct stat a, b;
  ASSERT_EQ(::stat(path("f").c_str(), &a), 0);
  ASSERT_EQ(::stat(path("h").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(b.st_nlink, 2u);
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0);
  ASSERT_EQ(::stat(server_path("fifo").c_str(), &a), 0);
  EXPECT_TRUE(S_ISFIFO(a.st_mode));
  ASSERT_EQ(::chmod(path("f").c_str(), 0600), 0);
  ASSERT_EQ(::stat(server_path("f").c_str(), &a), 0);
  EXPECT_EQ(a.st_mode & 07777, 0600u);
  if (::setxattr(path("f").c_str(), "user.netfs", "v1", 2, 0) == 0) {
    char v[8] = {};
    EXPECT_EQ(::getxattr(path("f").c_str(), "user.netfs", v, sizeof v), 2);
    EXPECT_EQ(std::string(v), "v1");
    EXPECT_EQ(::removexattr(path("f").c_str(), "user.netfs"), 0);
    EXPECT_LT(::getxattr(path("f").c_str(), "user.netfs", v, sizeof v), 0);
  } else {
    EXPECT_EQ(errno, EOPNOTSUPP) << "setxattr failed unexpectedly";
  }
}

TEST_F(Mount, UtimensAfterWriteSticks) {
  ASSERT_TRUE(mount("writeback_delay=3600s"));
  int fd = ::open(path("u").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "data", 4), 4);
  timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::futimens(fd, ts), 0);
  ::close(fd);
  struct stat st;
  ASSERT_EQ(::stat(server_path("u").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
}

// A create is the kernel's lookup of the new name, Twalk (clone) + Tlcreate, Tgetattr on
// the created fid, Twrite at close and the Tgetattr that records what close-to-open will
// compare: 6 RPCs (it was 8: a walk to the new name and a second getattr in open).
TEST_F(Mount, ACreateOfA4KFileCostsSixRpcs) {
  // Long timeouts: with the default 1 s, a loop that runs past it on a loaded machine
  // has the kernel look `d` up again (walk + getattr), which is no cost of a create.
  // The new names are still looked up every time (negative lookups are not cached).
  ASSERT_TRUE(mount("attr_timeout=3600,entry_timeout=3600"));
  ASSERT_EQ(::mkdir(path("d").c_str(), 0755), 0);
  constexpr int kFiles = 200;
  auto data = random_bytes(4096, 9);
  uint64_t rpcs0 = stat("p9_rpcs");
  uint64_t sync0 = stat("p9_sync_rpcs");
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kFiles; i++) {
    int fd = ::open(path("d/f" + std::to_string(i)).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(::write(fd, data.data(), data.size()), ssize_t(data.size()));
    ASSERT_EQ(::close(fd), 0);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t waited = stat("p9_sync_rpcs") - sync0;
  // close()'s getattr is not waited for (issue 7), nor is the spare clone: the last ones
  // may still be on their way. Each is sent before close returns and counted once its
  // reply is handled, so the total is final when no call is pending. (`netfs stats`
  // itself costs no RPC.)
  ASSERT_TRUE(eventually([&] { return stat("p9_calls_pending") == 0; }));
  uint64_t total = stat("p9_rpcs") - rpcs0;
  double per_create = double(total) / kFiles;
  double waited_per_create = double(waited) / kFiles;
  // Plus one: the directory's spare clone made for a next create that never comes.
  EXPECT_EQ(total, 6u * kFiles + 1);
  // Of the six, the caller waits for the lookup, the clone walk, Tlcreate and Tgetattr
  // (call_sync); the Twrite it waits for through the engine, which is not counted there.
  EXPECT_LE(waited_per_create, 4.0);
  std::printf("%d creates: %.2f RPCs each, %.2f waited for (p9_sync_rpcs), %.0f files/s\n", kFiles, per_create,
              waited_per_create, kFiles / secs);
  RecordProperty("rpcs_per_create", std::to_string(per_create));
  for (int i = 0; i < kFiles; i += 37) EXPECT_EQ(slurp(server_path("d/f" + std::to_string(i))), data);
}

// A file we created has only its open I/O fid until a lookup walks one: metadata calls on
// it, a rename of its directory and reopening must all still work.
TEST_F(Mount, AJustCreatedFileWorksAfterItsDirectoryIsRenamed) {
  ASSERT_TRUE(mount("attr_timeout=0,entry_timeout=0"));
  ASSERT_EQ(::mkdir(path("a").c_str(), 0755), 0);
  int fd = ::open(path("a/f").c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(::write(fd, "hello", 5), 5);
  ASSERT_EQ(::fchmod(fd, 0640), 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_size, 5);
  ASSERT_EQ(::rename(path("a").c_str(), path("b").c_str()), 0);
  ASSERT_EQ(::fchmod(fd, 0604), 0) << strerror(errno);
  ASSERT_EQ(::pwrite(fd, "HELLO", 5, 5), 5);
  ASSERT_EQ(::close(fd), 0);
  ASSERT_EQ(::stat(server_path("b/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(slurp(server_path("b/f")), (std::vector<char>{'h', 'e', 'l', 'l', 'o', 'H', 'E', 'L', 'L', 'O'}));
  EXPECT_EQ(slurp(path("b/f")), slurp(server_path("b/f")));
  ASSERT_EQ(::link(path("b/f").c_str(), path("b/g").c_str()), 0) << strerror(errno);
  ASSERT_EQ(::stat(server_path("b/g").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
  // Changed on the server after our close: the next open must see it (close-to-open).
  {
    std::ofstream out(server_path("b/f"), std::ios::binary | std::ios::trunc);
    out << "changed on the server";
  }
  std::string s(21, '\0');
  fd = ::open(path("b/f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::read(fd, s.data(), s.size()), 21);
  ::close(fd);
  EXPECT_EQ(s, "changed on the server");
}

// New files belong to whoever made them, not to the attach user: a child that becomes
// uid/gid 4321 creates a file, a directory, a fifo and a symlink through the mount
// (allow_other lets it in) and the server's copies are its own.
TEST_F(Mount, NewFilesBelongToTheirCreatorNotTheAttachUser) {
  ASSERT_EQ(geteuid(), 0u) << "the test needs root to change user";
  ASSERT_TRUE(mount("allow_other"));
  ASSERT_EQ(::chmod(server_path("").c_str(), 0777), 0);
  ASSERT_EQ(::chmod(work_.c_str(), 0711), 0);  // mkdtemp's 0700 would stop the child on the way in
  constexpr uid_t kUid = 4321;
  constexpr gid_t kGid = 4321;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kGid, kGid, kGid) != 0 || setresuid(kUid, kUid, kUid) != 0) _exit(10);
    int fd = ::open(path("mine").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) _exit(11);
    if (::write(fd, "x", 1) != 1 || ::close(fd) != 0) _exit(12);
    struct stat st;
    // What the kernel was told at create must already be right.
    if (::stat(path("mine").c_str(), &st) != 0 || st.st_uid != kUid || st.st_gid != kGid) _exit(13);
    if (::mkdir(path("mydir").c_str(), 0755) != 0) _exit(14);
    if (::mkfifo(path("mydir/fifo").c_str(), 0644) != 0) _exit(15);
    if (::symlink("mine", path("mylink").c_str()) != 0) _exit(16);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the child failed at step " << WEXITSTATUS(status);
  for (const char* name : {"mine", "mydir", "mydir/fifo", "mylink"}) {
    struct stat st;
    ASSERT_EQ(::lstat(server_path(name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_uid, kUid) << name;
    EXPECT_EQ(st.st_gid, kGid) << name;
  }
  // Root's own creates stay root's (and cost no setattr).
  write_file(path("roots"), {'r'});
  struct stat st;
  ASSERT_EQ(::stat(server_path("roots").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

// A setgid directory gives new files its own group, even when that is root's: the daemon
// must not "correct" it to the creator's (it used to, taking a gid of 0 as the attach
// user's whatever the directory said).
TEST_F(Mount, ASetgidDirectorysGroupStandsForNewFiles) {
  ASSERT_EQ(geteuid(), 0u) << "the test needs root to change user";
  ASSERT_TRUE(mount("allow_other"));
  ASSERT_EQ(::mkdir(server_path("sg").c_str(), 0777), 0);
  ASSERT_EQ(::chown(server_path("sg").c_str(), 0, 0), 0);
  ASSERT_EQ(::chmod(server_path("sg").c_str(), 02777), 0);
  ASSERT_EQ(::chmod(work_.c_str(), 0711), 0);
  constexpr uid_t kUid = 4321;
  constexpr gid_t kGid = 4321;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kGid, kGid, kGid) != 0 || setresuid(kUid, kUid, kUid) != 0) _exit(10);
    int fd = ::open(path("sg/f").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0 || ::close(fd) != 0) _exit(11);
    if (::mkdir(path("sg/d").c_str(), 0755) != 0) _exit(12);
    struct stat st;
    if (::stat(path("sg/f").c_str(), &st) != 0 || st.st_uid != kUid || st.st_gid != 0) _exit(13);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the child failed at step " << WEXITSTATUS(status);
  for (const char* name : {"sg/f", "sg/d"}) {
    struct stat st;
    ASSERT_EQ(::lstat(server_path(name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_uid, kUid) << name;
    EXPECT_EQ(st.st_gid, 0u) << name << ": the directory's group";
  }
}

// `ls -l` twice: the first lists and then looks every entry up (as before); that tells
// the daemon the entries' attributes are wanted, so the second listing's readdirplus
// fetches them in parallel (one getattr per known entry) and the kernel looks nothing up:
// it was a walk, a getattr and a clunk per entry, one after another.
TEST_F(Mount, LsLTwiceGetsTheSecondListingsAttributesFromReaddirplus) {
  std::filesystem::create_directory(server_path("d"));
  constexpr int kEntries = 300;
  for (int i = 0; i < kEntries; i++) std::ofstream(server_path("d/e" + std::to_string(i))) << std::string(i, 'x');
  ASSERT_TRUE(mount());
  std::string last;  // the name looked up last
  auto ls_l = [&] {
    int n = 0;
    for (auto& e : std::filesystem::directory_iterator(path("d"))) {
      struct stat st;
      last = e.path();
      EXPECT_EQ(::lstat(e.path().c_str(), &st), 0);
      EXPECT_EQ(st.st_size, std::stoi(e.path().filename().string().substr(1))) << e.path();
      n++;
    }
    EXPECT_EQ(n, kEntries);
  };
  uint64_t r0 = stat("p9_rpcs");
  ls_l();
  uint64_t first = stat("p9_rpcs") - r0;
  // The second pass must ask again: wait until the kernel's entry for the name listed
  // last has timed out (1 s), and with it every earlier one. The lstat that sees it costs
  // that one name a lookup, inside the margin below. (No listing here: it would reset
  // what tells the daemon that the attributes were wanted.)
  ASSERT_TRUE(eventually([&] {
    uint64_t before = stat("p9_rpcs");
    struct stat st;
    return ::lstat(last.c_str(), &st) == 0 && stat("p9_rpcs") != before;
  }));
  r0 = stat("p9_rpcs");
  ls_l();
  uint64_t second = stat("p9_rpcs") - r0;
  std::printf("ls -l of %d entries: %llu RPCs, then %llu\n", kEntries, (unsigned long long)first,
              (unsigned long long)second);
  EXPECT_LE(second, uint64_t(kEntries) + 10);
  // A plain listing right after asks for no attributes it has not got.
  r0 = stat("p9_rpcs");
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(path("d"))) n += e.path().empty() ? 0 : 1;
  EXPECT_EQ(n, kEntries);
  EXPECT_LE(stat("p9_rpcs") - r0, 10u);
  // Exact after a change on the server, once the attribute timeout (1 s) has passed.
  std::ofstream(server_path("d/e7"), std::ios::app) << "more";
  struct stat st;
  EXPECT_TRUE(eventually([&] { return ::lstat(path("d/e7").c_str(), &st) == 0 && st.st_size == 11; }))
      << "size " << st.st_size;
}

// flock(2) reaches the server: diod takes a real flock on the exported file, so a lock
// through the mount and one taken on the server directly exclude each other, and two
// open files on the mount conflict as two open files anywhere would.
TEST_F(Mount, FlockConflictsWithTheServerAndBetweenOpenFiles) {
  ASSERT_TRUE(mount());
  write_file(path("lk"), {'l'});
  int a = ::open(path("lk").c_str(), O_RDWR);
  int b = ::open(path("lk").c_str(), O_RDONLY);
  int srv = ::open(server_path("lk").c_str(), O_RDONLY);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_GE(srv, 0);
  ASSERT_EQ(::flock(a, LOCK_EX | LOCK_NB), 0) << strerror(errno);
  EXPECT_NE(::flock(srv, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  EXPECT_NE(::flock(b, LOCK_SH | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  ASSERT_EQ(::flock(a, LOCK_UN), 0);
  // Shared locks share.
  ASSERT_EQ(::flock(a, LOCK_SH | LOCK_NB), 0) << strerror(errno);
  ASSERT_EQ(::flock(b, LOCK_SH | LOCK_NB), 0) << strerror(errno);
  EXPECT_EQ(::flock(srv, LOCK_SH | LOCK_NB), 0);
  EXPECT_NE(::flock(srv, LOCK_EX | LOCK_NB), 0);
  ASSERT_EQ(::flock(srv, LOCK_UN), 0);
  // Closing an open file drops its lock: when the kernel's RELEASE arrives, which it
  // sends after close(2) returned (asynchronously, on every FUSE filesystem). Polled
  // until then, for at most 10 s.
  ::close(a);
  ::close(b);
  auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::flock(srv, LOCK_EX | LOCK_NB) != 0 && std::chrono::steady_clock::now() < limit) std::this_thread::yield();
  ASSERT_LT(std::chrono::steady_clock::now(), limit) << "the mount kept a lock after close";
  // A blocking flock through the mount waits for the server's holder to let go.
  int c = ::open(path("lk").c_str(), O_RDWR);
  ASSERT_GE(c, 0);
  EXPECT_NE(::flock(c, LOCK_EX | LOCK_NB), 0);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Its own open file: the child's lock is not the parent's.
    int fd = ::open(path("lk").c_str(), O_RDWR);
    char x = 'r';
    if (fd < 0 || ::write(ready[1], &x, 1) != 1) _exit(1);
    _exit(::flock(fd, LOCK_EX) == 0 ? 0 : 2);
  }
  char x;
  ASSERT_EQ(::read(ready[0], &x, 1), 1);
  ASSERT_EQ(::flock(srv, LOCK_UN), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ::close(c);
  ::close(srv);
  ::close(ready[0]);
  ::close(ready[1]);
}

// flock on an open file whose name is gone (unlinked here, renamed on the server): the
// lock fid used to be walked along the remembered path only, and flock failed with
// ENOENT. It falls back to the open file's own I/O fid, and still conflicts with the
// server's holders.
TEST_F(Mount, FlockWorksOnAnUnlinkedOrServerRenamedOpenFile) {
  ASSERT_TRUE(mount());
  write_file(path("ul"), {'u'});
  write_file(path("rn"), {'r'});
  int u = ::open(path("ul").c_str(), O_RDWR);
  int r = ::open(path("rn").c_str(), O_RDWR);
  ASSERT_GE(u, 0);
  ASSERT_GE(r, 0);
  ASSERT_EQ(::unlink(path("ul").c_str()), 0);
  ASSERT_EQ(::rename(server_path("rn").c_str(), server_path("rn2").c_str()), 0);
  EXPECT_EQ(::flock(u, LOCK_EX | LOCK_NB), 0) << strerror(errno);
  ASSERT_EQ(::flock(r, LOCK_EX | LOCK_NB), 0) << strerror(errno);
  // The lock is on the server's file: a holder there is refused.
  int srv = ::open(server_path("rn2").c_str(), O_RDONLY);
  ASSERT_GE(srv, 0);
  EXPECT_NE(::flock(srv, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  EXPECT_EQ(::flock(r, LOCK_UN), 0) << strerror(errno);
  EXPECT_EQ(::flock(srv, LOCK_EX | LOCK_NB), 0) << strerror(errno);
  ASSERT_EQ(::flock(srv, LOCK_UN), 0);
  // Its data still works, and closing lets the lock go for good.
  EXPECT_EQ(::pwrite(u, "x", 1, 0), 1);
  EXPECT_EQ(::flock(r, LOCK_SH | LOCK_NB), 0) << strerror(errno);
  ::close(u);
  ::close(r);
  auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::flock(srv, LOCK_EX | LOCK_NB) != 0 && std::chrono::steady_clock::now() < limit) std::this_thread::yield();
  EXPECT_LT(std::chrono::steady_clock::now(), limit) << "the mount kept the lock after close";
  ::close(srv);
}

// fcntl F_SETLK / F_SETLKW of [start, start + len) (len 0: to the end): 0 or the errno.
int setlk(int fd, short type, off_t start, off_t len, bool wait = false) {
  struct flock l {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = start;
  l.l_len = len;
  return ::fcntl(fd, wait ? F_SETLKW : F_SETLK, &l) == 0 ? 0 : errno;
}

// Runs f in a forked process (its own lock owner); f's result is its exit code.
pid_t spawn(const std::function<int()>& f) {
  pid_t pid = ::fork();
  if (pid == 0) _exit(f());
  return pid;
}

int exit_code(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Until pid sits in syscall nr (its blocking lock request is in, or about to be), for at
// most 10 s: /proc/PID/syscall starts with the number of the syscall it is blocked in.
bool until_in_syscall(pid_t pid, long nr) {
  auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string want = std::to_string(nr) + " ";
  while (std::chrono::steady_clock::now() < limit) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/syscall");
    std::string line;
    std::getline(f, line);
    if (line.rfind(want, 0) == 0) return true;
    std::this_thread::yield();
  }
  return false;
}

bool until_in_fcntl(pid_t pid) { return until_in_syscall(pid, SYS_fcntl); }

// waitpid with a limit: the exit code (128 + signal), or -1 if pid is still running after
// `secs` (it is then killed and reaped, so a hung waiter fails the test instead of hanging it).
int exit_code_within(pid_t pid, int secs) {
  auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
  int status = 0;
  pid_t got = 0;
  while ((got = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < limit)
    std::this_thread::yield();
  if (got != pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// An OFD lock (owned by the open file, so it goes at RELEASE, not at close's FLUSH) on an
// open file whose name was renamed away on the server: its lock fid is the I/O fid
// itself (borrowed), which the last release unlocks before the node can be forgotten and
// that fid clunked. The server's lock goes; another file's lock stays.
TEST_F(Mount, AnOfdLockOnAServerRenamedFileGoesAtTheLastReleaseAndSparesOtherFiles) {
  ASSERT_TRUE(mount());
  write_file(path("ofd"), {'o'});
  write_file(path("other"), {'x'});
  int a = ::open(path("ofd").c_str(), O_RDWR);
  int b = ::open(path("other").c_str(), O_RDWR);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(::rename(server_path("ofd").c_str(), server_path("ofd2").c_str()), 0);
  struct flock l {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  ASSERT_EQ(::fcntl(a, F_OFD_SETLK, &l), 0) << strerror(errno);
  ASSERT_EQ(setlk(b, F_WRLCK, 0, 0), 0);
  int srv = ::open(server_path("ofd2").c_str(), O_RDONLY);
  int srv_b = ::open(server_path("other").c_str(), O_RDONLY);
  ASSERT_GE(srv, 0);
  ASSERT_GE(srv_b, 0);
  EXPECT_NE(::flock(srv, LOCK_EX | LOCK_NB), 0);  // the lock is on the server's file
  ::close(a);
  // RELEASE is asynchronous to close(2): poll the server for at most 10 s.
  auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::flock(srv, LOCK_EX | LOCK_NB) != 0 && std::chrono::steady_clock::now() < limit) std::this_thread::yield();
  EXPECT_LT(std::chrono::steady_clock::now(), limit) << "the mount kept the lock after the last close";
  EXPECT_NE(::flock(srv_b, LOCK_SH | LOCK_NB), 0) << "the other file lost its server lock";
  ::close(b);
  EXPECT_EQ(::flock(srv_b, LOCK_EX | LOCK_NB), 0) << strerror(errno);
  ::close(srv);
  ::close(srv_b);
}

// A blocking flock on the mount polls the server while another client holds the lock. It
// used to poll until granted, whatever happened to the waiter: `flock -w 1` never timed
// out, and a killed waiter went on polling (and would have taken the lock for nobody).
TEST_F(Mount, ABlockingFlockEndsWhenTheWaiterIsInterruptedOrKilled) {
  ASSERT_TRUE(mount());
  write_file(path("fw"), {'w'});
  int srv = ::open(server_path("fw").c_str(), O_RDONLY);
  ASSERT_GE(srv, 0);
  ASSERT_EQ(::flock(srv, LOCK_EX | LOCK_NB), 0) << strerror(errno);
  const std::string p = path("fw");
  // flock(1) -w 1: an alarm interrupts its flock(2) after a second; it exits 1 on timeout.
  auto t0 = std::chrono::steady_clock::now();
  pid_t c = ::fork();
  ASSERT_GE(c, 0);
  if (c == 0) {
    ::execlp("flock", "flock", "-w", "1", p.c_str(), "true", static_cast<char*>(nullptr));
    _exit(127);
  }
  EXPECT_EQ(exit_code_within(c, 10), 1) << "flock -w 1 did not time out";
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  // A waiter killed while it waits dies at once...
  c = spawn([&] {
    int fd = ::open(p.c_str(), O_RDWR);
    return fd >= 0 && ::flock(fd, LOCK_EX) == 0 ? 0 : 1;
  });
  ASSERT_TRUE(until_in_syscall(c, SYS_flock));
  ASSERT_EQ(::kill(c, SIGKILL), 0);
  EXPECT_EQ(exit_code_within(c, 10), 128 + SIGKILL) << "the killed flock waiter is still waiting";
  // ...and the daemon stops polling for it: the RPC count stands still over a window
  // longer than the longest pause between two tries (0.5 s). Looked at for up to 10 s,
  // since the kernel's RELEASE of the dead process's file comes asynchronously.
  bool still = false;
  for (int i = 0; i < 8 && !still; i++) {
    uint64_t r0 = stat("p9_rpcs");
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // an observation window
    still = stat("p9_rpcs") == r0;
  }
  EXPECT_TRUE(still) << "the daemon still polls the server for a dead waiter";
  // Nobody took the lock for the dead waiter: once the server's holder lets go, an open
  // file on the mount gets it without waiting.
  ASSERT_EQ(::flock(srv, LOCK_UN), 0);
  int b = ::open(p.c_str(), O_RDWR);
  ASSERT_GE(b, 0);
  EXPECT_EQ(::flock(b, LOCK_EX | LOCK_NB), 0) << strerror(errno);
  ::close(b);
  ::close(srv);
}

// Issue 5: two processes on the mount both got an exclusive lock of the same range
// (every lock went to the server on one shared fid, one holder to diod).
TEST_F(Mount, PosixLocksConflictBetweenProcessesOnTheMount) {
  ASSERT_TRUE(mount());
  write_file(path("pl"), std::vector<char>(100, 'x'));
  int a = ::open(path("pl").c_str(), O_RDWR);
  ASSERT_GE(a, 0);
  ASSERT_EQ(setlk(a, F_WRLCK, 0, 10), 0);
  ASSERT_EQ(setlk(a, F_WRLCK, 0, 10), 0);  // its own again: no conflict
  const pid_t me = ::getpid();
  const std::string p = path("pl");
  pid_t c = spawn([&] {
    int fd = ::open(p.c_str(), O_RDWR);
    if (fd < 0) return 10;
    if (setlk(fd, F_WRLCK, 0, 10) != EAGAIN) return 1;
    if (setlk(fd, F_RDLCK, 9, 1) != EAGAIN) return 2;
    if (setlk(fd, F_WRLCK, 10, 10) != 0) return 3;  // right after it: free
    struct flock g {};
    g.l_type = F_RDLCK;
    g.l_whence = SEEK_SET;
    if (::fcntl(fd, F_GETLK, &g) != 0) return 4;
    if (g.l_type != F_WRLCK || g.l_start != 0 || g.l_len != 10 || g.l_pid != me) return 5;
    return 0;
  });
  EXPECT_EQ(exit_code(c), 0);
  // The child's lock went with it (exit closes, close drops): the parent's getlk sees none.
  struct flock g {};
  g.l_type = F_WRLCK;
  g.l_whence = SEEK_SET;
  ASSERT_EQ(::fcntl(a, F_GETLK, &g), 0);
  EXPECT_EQ(g.l_type, F_UNLCK);
  // Shared with shared: both; a writer among them: no.
  ASSERT_EQ(setlk(a, F_RDLCK, 0, 10), 0);
  c = spawn([&] {
    int fd = ::open(p.c_str(), O_RDWR);
    if (fd < 0) return 10;
    if (setlk(fd, F_RDLCK, 0, 10) != 0) return 1;
    if (setlk(fd, F_WRLCK, 5, 1) != EAGAIN) return 2;
    return 0;
  });
  EXPECT_EQ(exit_code(c), 0);
  // Unlocking the middle leaves the ends held.
  ASSERT_EQ(setlk(a, F_WRLCK, 0, 10), 0);
  ASSERT_EQ(setlk(a, F_UNLCK, 3, 4), 0);
  c = spawn([&] {
    int fd = ::open(p.c_str(), O_RDWR);
    if (fd < 0) return 10;
    if (setlk(fd, F_WRLCK, 3, 4) != 0) return 1;
    if (setlk(fd, F_WRLCK, 2, 1) != EAGAIN) return 2;
    if (setlk(fd, F_WRLCK, 7, 1) != EAGAIN) return 3;
    return 0;
  });
  EXPECT_EQ(exit_code(c), 0);
  ::close(a);
}

TEST_F(Mount, PosixLocksHoldTheServersLockForTheWholeMount) {
  ASSERT_TRUE(mount());
  write_file(path("sl"), std::vector<char>(10, 'x'));
  int a = ::open(path("sl").c_str(), O_RDWR);
  int srv = ::open(server_path("sl").c_str(), O_RDONLY);
  ASSERT_GE(a, 0);
  ASSERT_GE(srv, 0);
  // diod maps Tlock to flock(2): a direct flock on the export stands for another client.
  ASSERT_EQ(setlk(a, F_RDLCK, 0, 1), 0);
  EXPECT_EQ(::flock(srv, LOCK_SH | LOCK_NB), 0);
  ASSERT_EQ(::flock(srv, LOCK_UN), 0);
  EXPECT_NE(::flock(srv, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  ASSERT_EQ(setlk(a, F_WRLCK, 5, 1), 0);  // one write lock anywhere: the server's is a write lock
  EXPECT_NE(::flock(srv, LOCK_SH | LOCK_NB), 0);
  // The last local lock gone, the server's goes before the unlock returns.
  ASSERT_EQ(setlk(a, F_UNLCK, 0, 0), 0);
  ASSERT_EQ(::flock(srv, LOCK_EX | LOCK_NB), 0) << strerror(errno);
  // Held elsewhere: refused here, and a blocking request waits for it.
  EXPECT_EQ(setlk(a, F_RDLCK, 0, 1), EAGAIN);
  const std::string p = path("sl");
  pid_t c = spawn([&] {
    int fd = ::open(p.c_str(), O_RDWR);
    return fd >= 0 && setlk(fd, F_WRLCK, 0, 0, /*wait=*/true) == 0 ? 0 : 1;
  });
  ASSERT_TRUE(until_in_fcntl(c));
  ASSERT_EQ(::flock(srv, LOCK_UN), 0);
  EXPECT_EQ(exit_code(c), 0);
  // Released on close: close(2) returns after the server's lock went.
  ASSERT_EQ(setlk(a, F_WRLCK, 0, 0), 0);
  EXPECT_NE(::flock(srv, LOCK_SH | LOCK_NB), 0);
  ::close(a);
  EXPECT_EQ(::flock(srv, LOCK_EX | LOCK_NB), 0) << strerror(errno);
  ::close(srv);
}

TEST_F(Mount, ABlockedLockfProceedsWhenTheHolderCloses) {
  ASSERT_TRUE(mount());
  write_file(path("bl"), std::vector<char>(10, 'x'));
  int a = ::open(path("bl").c_str(), O_RDWR);
  ASSERT_GE(a, 0);
  ASSERT_EQ(::lockf(a, F_TLOCK, 0), 0);
  const std::string p = path("bl");
  pid_t c = spawn([&] {
    int fd = ::open(p.c_str(), O_RDWR);
    return fd >= 0 && ::lockf(fd, F_LOCK, 0) == 0 ? 0 : 1;
  });
  ASSERT_TRUE(until_in_fcntl(c));
  int status = 0;
  EXPECT_EQ(::waitpid(c, &status, WNOHANG), 0) << "the waiter got a held lock";
  ::close(a);
  EXPECT_EQ(exit_code(c), 0);
}

TEST_F(Mount, AKilledLockWaiterDoesNotHang) {
  ASSERT_TRUE(mount());
  write_file(path("kl"), std::vector<char>(10, 'x'));
  int a = ::open(path("kl").c_str(), O_RDWR);
  ASSERT_GE(a, 0);
  ASSERT_EQ(setlk(a, F_WRLCK, 0, 0), 0);
  const std::string p = path("kl");
  pid_t c = spawn([&] {
    int fd = ::open(p.c_str(), O_RDWR);
    return fd >= 0 && setlk(fd, F_WRLCK, 0, 0, /*wait=*/true) == 0 ? 0 : 1;
  });
  ASSERT_TRUE(until_in_fcntl(c));
  // SIGKILL: the kernel sends FUSE_INTERRUPT and waits for our answer to the lock request;
  // without one the process would stay in D state until the lock came free.
  ASSERT_EQ(::kill(c, SIGKILL), 0);
  auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  pid_t got = 0;
  while ((got = ::waitpid(c, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < limit)
    std::this_thread::yield();
  ASSERT_EQ(got, c) << "the killed waiter is still waiting for the lock";
  EXPECT_TRUE(WIFSIGNALED(status));
  // The dead waiter got nothing: the parent's lock is the only one, and after it goes a
  // new owner gets the lock at once.
  ASSERT_EQ(setlk(a, F_UNLCK, 0, 0), 0);
  c = spawn([&] {
    int fd = ::open(p.c_str(), O_RDWR);
    return fd >= 0 && setlk(fd, F_WRLCK, 0, 0) == 0 ? 0 : 1;
  });
  EXPECT_EQ(exit_code(c), 0);
  ::close(a);
}

// sqlite's locking is fcntl locks on the database file: two writers on one mount must
// serialise, or rows go missing (or the database is corrupted).
TEST_F(Mount, TwoSqliteWritersOnTheMountLoseNoRow) {
  if (sh("command -v sqlite3").status != 0) GTEST_SKIP() << "no sqlite3";
  ASSERT_TRUE(mount());
  for (int k = 1; k <= 2; k++) {
    std::ofstream sql(work_ + "/w" + std::to_string(k) + ".sql");
    sql << ".timeout 60000\n";  // sqlite's busy_timeout, without the pragma's output
    for (int i = 0; i < 200; i++) sql << "INSERT INTO t VALUES(" << k << "," << i << ");\n";
  }
  auto r = sh("cd " + mnt_ + " && sqlite3 c.db 'CREATE TABLE t(p, i);' && "
              "(sqlite3 -bail c.db < " + work_ + "/w1.sql & p1=$!; sqlite3 -bail c.db < " + work_ +
              "/w2.sql & p2=$!; wait $p1 && wait $p2) 2>&1 && "
              "sqlite3 c.db 'SELECT count(*), count(DISTINCT p || \"/\" || i) FROM t; PRAGMA integrity_check;'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "400|400\nok\n");
}

TEST_F(Mount, BadOptionsAreRefusedByName) {
  std::string out;
  EXPECT_FALSE(mount("no_such_option=1", &out));
  EXPECT_NE(out.find("no_such_option"), std::string::npos) << out;
  EXPECT_FALSE(mount("msize=12", &out));
  EXPECT_NE(out.find("msize"), std::string::npos) << out;
  EXPECT_FALSE(mount("dirty_limit=lots", &out));
  EXPECT_NE(out.find("dirty_limit"), std::string::npos) << out;
  auto r = netfs({"mount", url(), mnt_, "-o", "retries=-1"});
  EXPECT_EQ(r.status, 2) << r.output;
}

TEST_F(Mount, UnreachableServerRefusedExportAndBusyMountpoint) {
  auto r = netfs({"mount", "9p://127.0.0.1:1/x", mnt_});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("cannot reach"), std::string::npos) << r.output;
  r = netfs({"mount", "9p://127.0.0.1:" + std::to_string(diod_->port()) + "/not/exported", mnt_});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("refused export"), std::string::npos) << r.output;
  ASSERT_TRUE(mount());
  r = netfs({"mount", url(), mnt_});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("busy"), std::string::npos) << r.output;
}

TEST_F(Mount, UmountNamesFilesItCannotWriteAndKeepsTheirData) {
  ASSERT_TRUE(mount("timeout=1s,retries=1,writeback_delay=3600s"));
  auto data = random_bytes(200000, 7);
  int fd = ::open(path("precious").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  diod_->kill_hard();
  EXPECT_NE(::close(fd), 0);  // close-to-open: the write-back failed and close says so
  auto r = netfs({"umount", mnt_});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("/precious"), std::string::npos) << r.output;
  EXPECT_EQ(sh("grep -q ' " + mnt_ + " ' /proc/self/mounts").status, 0) << "unmounted despite unwritten data";
  // The server comes back: the kept data goes out and the unmount succeeds.
  ASSERT_TRUE(diod_->start()) << diod_->error();
  r = netfs({"umount", mnt_});
  EXPECT_EQ(r.status, 0) << r.output;
  mounted_ = r.status != 0;
  EXPECT_EQ(slurp(server_path("precious")), data);
}

TEST_F(Mount, MountHelperTakesMount8Arguments) {
  // mount(8) runs /sbin/mount.netfs SPEC DIR -o OPTS, with options it acts on itself mixed in.
  std::string helper = work_ + "/mount.netfs";
  ASSERT_EQ(::symlink(NETFS_BIN, helper.c_str()), 0);
  auto r = run({helper, url(), mnt_, "-o", "rw,_netdev,nofail,msize=64K,log=" + work_ + "/netfs.log"});
  ASSERT_EQ(r.status, 0) << r.output;
  mounted_ = true;
  write_file(path("via-helper"), {'h'});
  EXPECT_EQ(slurp(server_path("via-helper")), std::vector<char>{'h'});
  r = run({helper, url(), mnt_, "-o", "bogus"});
  EXPECT_EQ(r.status, 2) << r.output;  // options are checked before anything else
}

TEST_F(Mount, StatsAndTraceReachTheMount) {
  ASSERT_TRUE(mount());
  write_file(path("x"), random_bytes(100000, 8));
  auto r = netfs({"stats", mnt_});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("Upload"), std::string::npos) << r.output;
  r = netfs({"trace", "--no-follow", mnt_});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("ISSUE"), std::string::npos) << r.output;
  // The control channel lives outside the tree.
  for (auto& e : std::filesystem::directory_iterator(mnt_)) EXPECT_EQ(e.path().filename(), "x");
}

TEST_F(Mount, RealToolsTarCpGitSqliteRsync) {
  ASSERT_TRUE(mount());
  std::string src = std::string(NETFS_SOURCE_DIR);
  auto must = [&](const std::string& cmd) {
    auto r = sh(cmd);
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
  };
  must("tar -C " + src + " -cf - src include docs | tar -C " + mnt_ + " -xf - && diff -r " + src + "/src " + mnt_ + "/src");
  must("cp -a " + src + "/tests " + mnt_ + "/tests && diff -r " + src + "/tests " + mnt_ + "/tests");
  if (sh("command -v git").status == 0)
    must("cd " + mnt_ + " && git init -q repo && cd repo && cp -a ../src . && git add -A && "
         "git -c user.name=t -c user.email=t@t commit -qm one && git log --oneline | grep -q one && git fsck 2>&1");
  if (sh("command -v sqlite3").status == 0)
    must("cd " + mnt_ + " && sqlite3 db.sqlite 'create table t(a,b); begin; "
         "insert into t values(1,2); insert into t values(3,4); commit; pragma integrity_check;' "
         "&& test \"$(sqlite3 db.sqlite 'select sum(a)+sum(b) from t')\" = 10");
  if (sh("command -v rsync").status == 0)
    must("rsync -a " + src + "/docs/ " + mnt_ + "/rsynced/ && rsync -a " + src + "/docs/ " + mnt_ +
         "/rsynced/ && diff -r " + src + "/docs " + mnt_ + "/rsynced");
}

}  // namespace
}  // namespace netfs::testing
