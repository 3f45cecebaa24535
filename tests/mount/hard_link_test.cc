// Hard links on a real mount over a real diod (issue 16, finding 3): every remaining
// link of a file stays usable after others are removed, whichever name the mount last
// used for it, and link counts follow each ln and rm.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void put(const std::string& p, const std::string& s) {
  int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << p << ": " << strerror(errno);
  ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())) << strerror(errno);
  ASSERT_EQ(::close(fd), 0) << strerror(errno);
}

// lstat of p: its link count, or -errno.
long nlink_of(const std::string& p) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) return -errno;
  return static_cast<long>(st.st_nlink);
}

using HardLink = MountFixture;

// The reproduction: `echo x > f0; ln f0 f1; ln f1 f2; cat f0 f1 f2; rm f0 f2;
// cat f1` gave ENOENT until the entry timeout passed. The long timeouts make the kernel
// keep its names, so every step reaches the node the mount already knows.
TEST_F(HardLink, ARemainingLinkIsUsableAfterTheNameTheMountLastUsedIsRemoved) {
  ASSERT_TRUE(mount("attr_timeout=0,entry_timeout=60"));
  put(path("f0"), "x\n");
  ASSERT_EQ(::link(path("f0").c_str(), path("f1").c_str()), 0) << strerror(errno);
  ASSERT_EQ(::link(path("f1").c_str(), path("f2").c_str()), 0) << strerror(errno);
  for (const char* f : {"f0", "f1", "f2"}) EXPECT_EQ(slurp(path(f)), "x\n") << f;
  ASSERT_EQ(::unlink(path("f0").c_str()), 0) << strerror(errno);
  ASSERT_EQ(::unlink(path("f2").c_str()), 0) << strerror(errno);
  EXPECT_EQ(nlink_of(path("f1")), 1);
  EXPECT_EQ(slurp(path("f1")), "x\n");
  EXPECT_EQ(nlink_of(path("f0")), -ENOENT);
  EXPECT_EQ(nlink_of(path("f2")), -ENOENT);
}

// Every remaining link answers lstat, stat, read and write after each ln and rm, in
// every order, and st_nlink is the number of links left.
TEST_F(HardLink, EveryRemainingLinkAnswersAndLinkCountsFollowEachLnAndRm) {
  ASSERT_TRUE(mount("attr_timeout=0,entry_timeout=60"));
  const std::vector<std::string> names = {"a", "b", "c", "d"};
  put(path("a"), "v0");
  std::vector<std::string> live = {"a"};
  auto check = [&](const std::string& when) {
    SCOPED_TRACE(when);
    std::string want = slurp(server_path(live.front()));
    for (const auto& n : live) {
      EXPECT_EQ(nlink_of(path(n)), static_cast<long>(live.size())) << n;
      struct stat st;
      ASSERT_EQ(::stat(path(n).c_str(), &st), 0) << n << ": " << strerror(errno);
      EXPECT_EQ(st.st_nlink, live.size()) << n;
      EXPECT_EQ(slurp(path(n)), want) << n;
    }
  };
  for (size_t i = 1; i < names.size(); i++) {
    ASSERT_EQ(::link(path(live.back()).c_str(), path(names[i]).c_str()), 0) << strerror(errno);
    live.push_back(names[i]);
    check("after ln " + names[i]);
  }
  // Remove the newest name first (the one the mount resolved last), then the oldest;
  // write through a remaining name after each removal and read it through all of them.
  int version = 1;
  auto remove = [&](size_t at) {
    std::string gone = live[at];
    ASSERT_EQ(::unlink(path(gone).c_str()), 0) << strerror(errno);
    live.erase(live.begin() + static_cast<long>(at));
    EXPECT_EQ(nlink_of(path(gone)), -ENOENT) << gone;
    put(path(live.back()), "v" + std::to_string(version++));
    check("after rm " + gone);
  };
  remove(live.size() - 1);
  remove(0);
  remove(0);
  EXPECT_EQ(slurp(path(live.front())), "v3");
  EXPECT_EQ(slurp(server_path(live.front())), "v3");
}

// A name that the mount last used for a file and that is then renamed over by another
// file: the node must not answer with the other file's attributes.
TEST_F(HardLink, ALinkRenamedOverLeavesTheOtherLinkAnsweringForItsFile) {
  ASSERT_TRUE(mount("attr_timeout=0,entry_timeout=60"));
  put(path("f0"), "first");
  ASSERT_EQ(::link(path("f0").c_str(), path("f1").c_str()), 0) << strerror(errno);
  struct stat before;
  ASSERT_EQ(::stat(path("f1").c_str(), &before), 0);
  put(path("g"), "other file");
  ASSERT_EQ(::rename(path("g").c_str(), path("f1").c_str()), 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(::stat(path("f0").c_str(), &st), 0) << strerror(errno);
  EXPECT_EQ(st.st_ino, before.st_ino);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_size, 5);
  EXPECT_EQ(slurp(path("f0")), "first");
  EXPECT_EQ(slurp(path("f1")), "other file");
}

// The same when the name goes on the server (another client): the mount learns it from
// the server's ENOENT and answers through the name that is left.
TEST_F(HardLink, ALinkRemovedOnTheServerLeavesTheOtherLinkAnswering) {
  ASSERT_TRUE(mount("attr_timeout=0,entry_timeout=60"));
  put(path("f0"), "data");
  ASSERT_EQ(::link(path("f0").c_str(), path("f1").c_str()), 0) << strerror(errno);
  EXPECT_EQ(nlink_of(path("f1")), 2);  // the mount's fid now names f1
  ASSERT_EQ(::unlink(server_path("f1").c_str()), 0) << strerror(errno);
  EXPECT_EQ(nlink_of(path("f0")), 1);
  EXPECT_EQ(slurp(path("f0")), "data");
}

}  // namespace
}  // namespace netfs::testing
