// Identity: who the mount is on the server (the attach name, from 9p://USER@HOST/ or
// uname=) and who the files appear to belong to locally (uid=, gid=, umask=).
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "mount/mount_fixture.h"
#include "mount/mountinfo.h"

namespace netfs::testing {
namespace {

class Identity : public MountFixture {
 protected:
  std::string url_with_user(const std::string& user) const {
    return "9p://" + user + "@127.0.0.1:" + std::to_string(diod_->port()) + diod_->dir();
  }
  bool mount_url(const std::string& u, const std::string& opts = "") {
    std::vector<std::string> args = {"mount", u, mnt_, "-o", "log=" + work_ + "/netfs.log"};
    if (!opts.empty()) args.insert(args.end(), {"-o", opts});
    auto r = netfs(args);
    EXPECT_EQ(r.status, 0) << r.output;
    mounted_ = r.status == 0;
    return mounted_;
  }
};

// diod acts as the attach user: a file created through a mount of 65534@ (nobody; the
// tests' diod runs without a user database, -N, so it takes uids, not names) is nobody's
// on the server (as root's mount makes root's), and mountinfo names the user.
TEST_F(Identity, UserInTheUrlIsTheAttachName) {
  ASSERT_EQ(::chmod(server_path("").c_str(), 0777), 0);
  // diod reaches the export as the attach user: mkdtemp's 0700 parent would stop nobody.
  ASSERT_EQ(::chmod(std::filesystem::path(diod_->dir()).parent_path().c_str(), 0711), 0);
  ASSERT_TRUE(mount_url(url_with_user("65534")));
  auto mi = find_mount(mnt_);
  ASSERT_TRUE(mi);
  EXPECT_EQ(mi->source, url_with_user("65534"));
  std::ofstream(path("made")) << "by the attach user";
  struct stat st;
  ASSERT_EQ(::stat(server_path("made").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
}

// uname= in the options overrides the URL's user.
TEST_F(Identity, UnameOptionOverridesTheUrlsUser) {
  ASSERT_EQ(::chmod(server_path("").c_str(), 0777), 0);
  ASSERT_TRUE(mount_url(url_with_user("65534"), "uname=root"));
  std::ofstream(path("made")) << "by root";
  struct stat st;
  ASSERT_EQ(::stat(server_path("made").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

// uid=, gid=, umask= change what stat shows, not the server's files.
TEST_F(Identity, UidGidUmaskShapeWhatTheMountShows) {
  std::ofstream(server_path("f")) << "x";
  ASSERT_EQ(::chmod(server_path("f").c_str(), 0644), 0);
  ASSERT_EQ(::mkdir(server_path("d").c_str(), 0755), 0);
  ASSERT_TRUE(mount("uid=4321,gid=4322,umask=027"));
  struct stat st;
  ASSERT_EQ(::stat(path("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4321u);
  EXPECT_EQ(st.st_gid, 4322u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_EQ(::stat(path("d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_EQ(::stat(server_path("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

// With allow_other the kernel's checks use what the mount shows: uid= gives that local
// user the owner's access to files the server says are root's, and only to them.
TEST_F(Identity, UidWithAllowOtherIsTheLocalOwner) {
  ASSERT_EQ(geteuid(), 0u) << "the test needs root to change user";
  std::ofstream(server_path("f")) << "for 4321";
  ASSERT_EQ(::chmod(server_path("f").c_str(), 0600), 0);
  ASSERT_EQ(::chmod(work_.c_str(), 0711), 0);
  ASSERT_TRUE(mount("allow_other,uid=4321"));
  auto can_read_as = [&](uid_t uid) {
    pid_t pid = fork();
    if (pid == 0) {
      if (setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) _exit(2);
      int fd = ::open(path("f").c_str(), O_RDONLY);
      _exit(fd >= 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(can_read_as(4321), 0);
  EXPECT_EQ(can_read_as(4322), 1);
}

}  // namespace
}  // namespace netfs::testing
