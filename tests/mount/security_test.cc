// Safe defaults: a mount that other users can reach (allow_other) checks their access
// like any local filesystem would (default_permissions), so that the daemon's attach
// identity is not lent to every local user.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>

#include "mount/mount_fixture.h"
#include "mount/mountinfo.h"

namespace netfs::testing {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

class Security : public MountFixture {
 protected:
  // Root's files, made through the mount: a 0600 secret, a 0644 log, a 0755 directory
  // with a file in it and a 0700 directory.
  void make_roots_files() {
    ASSERT_EQ(::chmod(work_.c_str(), 0711), 0);  // mkdtemp's 0700 would stop the other user on the way in
    ASSERT_EQ(::chmod(path("").c_str(), 0755), 0);
    for (auto [name, mode] : {std::pair{"secret", 0600}, std::pair{"log", 0644}}) {
      std::ofstream(path(name)) << "root's " << name;
      ASSERT_EQ(::chmod(path(name).c_str(), static_cast<mode_t>(mode)), 0);
    }
    ASSERT_EQ(::mkdir(path("d").c_str(), 0755), 0);
    std::ofstream(path("d/f")) << "in d";
    ASSERT_EQ(::mkdir(path("private").c_str(), 0700), 0);
  }

  // Runs body as nobody in a child; its exit code (0: every step behaved).
  int as_nobody(const std::function<int()>& body) {
    pid_t pid = fork();
    if (pid == 0) {
      if (setgroups(0, nullptr) != 0 || setresgid(kNogroup, kNogroup, kNogroup) != 0 ||
          setresuid(kNobody, kNobody, kNobody) != 0)
        _exit(100);
      _exit(body());
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }
};

// Each step returns its number when the other user got through.
int try_roots_files(const std::function<std::string(const char*)>& p) {
  errno = 0;
  if (::open(p("secret").c_str(), O_RDONLY) >= 0 || errno != EACCES) return 1;
  if (::open(p("log").c_str(), O_WRONLY | O_APPEND) >= 0 || errno != EACCES) return 2;
  if (::unlink(p("d/f").c_str()) == 0 || errno != EACCES) return 3;
  if (::chmod(p("private").c_str(), 0777) == 0 || errno != EPERM) return 4;
  // What the modes allow still works.
  int fd = ::open(p("log").c_str(), O_RDONLY);
  if (fd < 0) return 5;
  ::close(fd);
  return 0;
}

TEST_F(Security, AllowOtherChecksOtherUsersAgainstTheModes) {
  ASSERT_EQ(geteuid(), 0u) << "the test needs root to change user";
  ASSERT_TRUE(mount("allow_other"));
  auto mi = find_mount(mnt_);
  ASSERT_TRUE(mi);
  EXPECT_TRUE(mi->super_opts.count("allow_other"));
  EXPECT_TRUE(mi->super_opts.count("default_permissions")) << "allow_other without the kernel's checks";
  make_roots_files();
  int step = as_nobody([&] { return try_roots_files([&](const char* n) { return path(n); }); });
  EXPECT_EQ(step, 0) << "nobody got through at step " << step;
  // The server's files are untouched.
  struct stat st;
  EXPECT_EQ(::stat(server_path("d/f").c_str(), &st), 0);
  ASSERT_EQ(::stat(server_path("private").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  std::ifstream log(server_path("log"));
  std::string text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_EQ(text, "root's log");
}

// The documented way out: no_default_permissions leaves every check to the server, which
// sees only the attach user, so the other user gets root's access (the risk docs/fuse.md
// names).
TEST_F(Security, NoDefaultPermissionsIsAnExplicitChoice) {
  ASSERT_EQ(geteuid(), 0u) << "the test needs root to change user";
  ASSERT_TRUE(mount("allow_other,no_default_permissions"));
  auto mi = find_mount(mnt_);
  ASSERT_TRUE(mi);
  EXPECT_TRUE(mi->super_opts.count("allow_other"));
  EXPECT_FALSE(mi->super_opts.count("default_permissions"));
  make_roots_files();
  EXPECT_EQ(as_nobody([&] {
              int fd = ::open(path("secret").c_str(), O_RDONLY);
              return fd >= 0 ? 0 : 1;
            }),
            0);
}

// Without allow_other the kernel keeps other users out of the mount altogether.
TEST_F(Security, WithoutAllowOtherOtherUsersCannotEnter) {
  ASSERT_EQ(geteuid(), 0u) << "the test needs root to change user";
  ASSERT_TRUE(mount());
  ASSERT_EQ(::chmod(work_.c_str(), 0711), 0);
  ASSERT_EQ(::chmod(path("").c_str(), 0777), 0);
  EXPECT_EQ(as_nobody([&] {
              struct stat st;
              return ::stat(path("").c_str(), &st) != 0 && errno == EACCES ? 0 : 1;
            }),
            0);
}

}  // namespace
}  // namespace netfs::testing
