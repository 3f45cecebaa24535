// Mount flags (ro, noexec, nosuid, nodev, noatime, sync, dirsync and their opposites) as
// mount(8) names them: applied by `netfs mount -o`, by the mount.netfs helper and by
// mount(8) itself from an fstab line, checked in /proc/self/mountinfo and by behaviour.
// A mount is never more permissive than asked: FUSE's nosuid,nodev stay unless asked.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "mount/mount_fixture.h"
#include "mount/mountinfo.h"

namespace netfs::testing {
namespace {

class MountFlags : public MountFixture {
 protected:
  // A script in the export (made on the server, so that a read-only mount has it too).
  void make_script() {
    std::ofstream(server_path("script.sh")) << "#!/bin/sh\necho ran\n";
    ASSERT_EQ(::chmod(server_path("script.sh").c_str(), 0755), 0);
  }
  std::set<std::string> flags() {
    auto mi = find_mount(mnt_);
    EXPECT_TRUE(mi) << mnt_ << " is not in mountinfo";
    return mi ? mi->flags : std::set<std::string>{};
  }
};

TEST_F(MountFlags, DefaultsAreFusesNosuidNodevWithExecAndRelatime) {
  make_script();
  ASSERT_TRUE(mount());
  auto f = flags();
  for (const char* want : {"rw", "nosuid", "nodev", "relatime"}) EXPECT_TRUE(f.count(want)) << want;
  EXPECT_FALSE(f.count("noexec"));
  auto r = run({path("script.sh")});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "ran\n");
}

TEST_F(MountFlags, RestrictiveFlagsAreAppliedAndANoexecScriptDoesNotRun) {
  make_script();
  ASSERT_TRUE(mount("ro,noexec,nosuid,nodev,noatime"));
  auto f = flags();
  for (const char* want : {"ro", "noexec", "nosuid", "nodev", "noatime"}) EXPECT_TRUE(f.count(want)) << want;
  // execve fails with EACCES; run() reports 127 for a failed exec.
  EXPECT_EQ(::access(path("script.sh").c_str(), X_OK), -1);
  EXPECT_EQ(errno, EACCES);
  EXPECT_NE(run({path("script.sh")}).status, 0);
  EXPECT_EQ(::open(path("new").c_str(), O_CREAT | O_WRONLY, 0644), -1);
  EXPECT_EQ(errno, EROFS);
}

TEST_F(MountFlags, PermissiveFlagsOnlyWhenAskedByRoot) {
  ASSERT_EQ(geteuid(), 0u) << "suid and dev need root";
  ASSERT_TRUE(mount("rw,exec,suid,dev,relatime,sync,dirsync"));
  auto f = flags();
  for (const char* want : {"rw", "relatime"}) EXPECT_TRUE(f.count(want)) << want;
  for (const char* unwanted : {"nosuid", "nodev", "noexec", "ro"}) EXPECT_FALSE(f.count(unwanted)) << unwanted;
  // sync and dirsync are the superblock's, listed after the source.
  auto mi = find_mount(mnt_);
  ASSERT_TRUE(mi);
  for (const char* want : {"sync", "dirsync"}) EXPECT_TRUE(mi->super_opts.count(want)) << want;
}

// sync: a write has reached the server when write(2) returns (the kernel fsyncs each
// write on a sync mount), although the write-back delay is an hour.
TEST_F(MountFlags, SyncWritesReachTheServerBeforeWriteReturns) {
  ASSERT_TRUE(mount("sync,writeback_delay=3600s"));
  int fd = ::open(path("f").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "synced", 6), 6);
  std::ifstream in(server_path("f"));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "synced");
  ::close(fd);
}

// The same flags through the mount(8) helper convention: mount.netfs SPEC DIR -o OPTS.
TEST_F(MountFlags, TheMountHelperAppliesThemToo) {
  make_script();
  std::string helper = work_ + "/mount.netfs";
  ASSERT_EQ(::symlink(NETFS_BIN, helper.c_str()), 0);
  auto r = run({helper, url(), mnt_, "-o", "rw,noexec,nosuid,nodev,noatime,_netdev,log=" + work_ + "/netfs.log"});
  ASSERT_EQ(r.status, 0) << r.output;
  mounted_ = true;
  auto f = flags();
  for (const char* want : {"noexec", "nosuid", "nodev", "noatime"}) EXPECT_TRUE(f.count(want)) << want;
  EXPECT_NE(run({path("script.sh")}).status, 0);
}

// mount(8) itself, from an fstab line (mount -T FILE), finds /sbin/mount.netfs. So as not
// to touch this machine's /sbin, the whole check runs in a private mount namespace where
// an empty tmpfs over /usr/sbin holds only the helper (mount(8) is /usr/bin/mount), and
// the mount and its checks happen inside it.
TEST_F(MountFlags, Mount8FromAnFstabLineAppliesThem) {
  ASSERT_EQ(geteuid(), 0u) << "mount(8) and unshare need root";
  if (run({"sh", "-c", "command -v unshare && command -v mount"}).status != 0) GTEST_SKIP() << "no unshare/mount";
  make_script();
  std::string fstab = work_ + "/fstab";
  // The line docs/fuse.md gives for systemd (x-systemd.* are mount(8)'s and systemd's).
  std::ofstream(fstab) << url() << " " << mnt_ << " netfs noexec,nosuid,nodev,noatime,_netdev,nofail,"
                       << "x-systemd.automount,x-systemd.idle-timeout=10min,log=" << work_
                       << "/netfs.log 0 0\n";
  std::string script =
      "set -e; mount -t tmpfs none /usr/sbin; ln -s " NETFS_BIN " /usr/sbin/mount.netfs; "
      "mount -T " + fstab + " " + mnt_ + "; "
      "grep ' " + mnt_ + " ' /proc/self/mountinfo; "
      "if " + mnt_ + "/script.sh; then echo EXEC-ALLOWED; fi; " NETFS_BIN " umount " + mnt_;
  auto r = run({"unshare", "-m", "--propagation", "private", "sh", "-c", script});
  EXPECT_EQ(r.status, 0) << r.output;
  // The mountinfo line's sixth field: the per-mount flags.
  size_t at = r.output.find(" " + mnt_ + " ");
  ASSERT_NE(at, std::string::npos) << r.output;
  std::istringstream fields(r.output.substr(at));
  std::string point, flag_text;
  fields >> point >> flag_text;
  auto f = split_commas(flag_text);
  for (const char* want : {"noexec", "nosuid", "nodev", "noatime"}) EXPECT_TRUE(f.count(want)) << want << ": " << r.output;
  EXPECT_EQ(r.output.find("EXEC-ALLOWED"), std::string::npos) << r.output;
}

TEST_F(MountFlags, SuidAndDevNeedRoot) {
  // As nobody: refused as a usage error, before anything is mounted.
  ASSERT_EQ(geteuid(), 0u) << "the test needs root to change user";
  auto r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", NETFS_BIN, "mount", url(), mnt_, "-o",
                "suid"});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("suid"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace netfs::testing
