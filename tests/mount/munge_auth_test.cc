// Authentication with MUNGE, diod's scheme: against a diod started without -n (it then
// refuses every attach without a credential) and a munged with its own key, started by
// the test. libmunge (both ends) finds munged at its compiled-in socket under /run/munge,
// so the whole check runs in a private mount namespace with a fresh tmpfs on /run: this
// machine's /run is never touched, and the mount lives and dies in that namespace.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

class MungeAuth : public MountFixture {};

uint16_t free_tcp_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  uint16_t port = 0;
  if (bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr*>(&sa), &len) == 0)
    port = ntohs(sa.sin_port);
  close(s);
  return port;
}

TEST_F(MungeAuth, ADiodThatRequiresAuthenticationIsMountedWithMunge) {
  ASSERT_EQ(geteuid(), 0u) << "unshare and mount need root";
  for (const char* tool : {"munged", "unshare", "diod"})
    ASSERT_EQ(sh(std::string("command -v ") + tool + " || test -x /usr/sbin/" + tool).status, 0)
        << tool << " is missing (make deps installs munge)";
  uint16_t port = free_tcp_port();
  ASSERT_NE(port, 0);
  std::string w = work_, exp = diod_->dir(), remote = "9p://127.0.0.1:" + std::to_string(port) + exp;
  std::string netfs_bin = NETFS_BIN;
  // Every step is checked (set -e); the markers say how far it got. munged and diod are
  // stopped by PID on the way out, whatever happened.
  std::string script =
      "set -e; W=" + w + "; PATH=$PATH:/usr/sbin\n"
      "cleanup() { [ -f $W/diod.pid ] && kill $(cat $W/diod.pid) 2>/dev/null; "
      "[ -f $W/munged.pid ] && kill $(cat $W/munged.pid) 2>/dev/null; true; }\n"
      "trap cleanup EXIT\n"
      "mount -t tmpfs -o mode=0755 none /run && mkdir -m 0755 /run/munge\n"
      "head -c 1024 /dev/urandom > $W/munge.key && chmod 0400 $W/munge.key\n"
      "munged --key-file=$W/munge.key --socket=/run/munge/munge.socket.2 --pid-file=$W/munged.pid "
      "--log-file=$W/munged.log --seed-file=$W/munged.seed --force\n"
      "diod -f -N -L $W/diod-auth.log -l 127.0.0.1:" + std::to_string(port) + " -e " + exp + " & echo $! > $W/diod.pid\n"
      // Until diod accepts connections (bounded: 10 s).
      "i=0; until (exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port) + ") 2>/dev/null; do "
      "i=$((i+1)); [ $i -lt 200 ] || { echo DIOD-DID-NOT-START; exit 1; }; sleep 0.05; done\n"
      "if " + netfs_bin + " mount " + remote + " " + mnt_ + " -o log=$W/netfs.log,auth=none 2>$W/none.err; then "
      "echo MOUNTED-WITHOUT-AUTH; exit 1; fi; cat $W/none.err\n"
      + netfs_bin + " mount " + remote + " " + mnt_ + " -o log=$W/netfs.log; echo AUTO-MOUNTED\n"
      "echo auto > " + mnt_ + "/by-auto; " + netfs_bin + " umount " + mnt_ + "\n"
      + netfs_bin + " mount " + remote + " " + mnt_ + " -o log=$W/netfs.log,auth=munge; echo MUNGE-MOUNTED\n"
      "echo munge > " + mnt_ + "/by-munge; " + netfs_bin + " umount " + mnt_ + "; echo DONE\n";
  auto r = run({"unshare", "-m", "--propagation", "private", "bash", "-c", script});
  EXPECT_EQ(r.status, 0) << r.output << "\n" << sh("cat " + w + "/munged.log " + w + "/diod-auth.log " + w + "/netfs.log").output;
  EXPECT_NE(r.output.find("requires authentication"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("AUTO-MOUNTED"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("MUNGE-MOUNTED"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("DONE"), std::string::npos) << r.output;
  EXPECT_EQ(sh("cat " + server_path("by-auto") + " " + server_path("by-munge")).output, "auto\nmunge\n");
}

}  // namespace
}  // namespace netfs::testing
