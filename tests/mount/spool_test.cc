// Dirty data at exit (issue 15, finding 5): a plain umount(8) with the server gone used
// to drop the data with one line in the log. Now the daemon saves it to the spool, `netfs
// spool` lists it, and the next mount of the export uploads it before serving the file,
// or, when the server's file changed meanwhile, writes it next to it as
// NAME.netfs-conflict-TIMESTAMP.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "fakes/pattern.h"
#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

class Spool : public MountFixture {
 protected:
  std::string spool() const { return work_ + "/spool"; }
  // Writes data to NAME with the server killed before close, then unmounts with plain
  // umount(8), and waits for the exiting daemon's spool entry (bounded: the daemon first
  // tries to write once more, one timeout of 1 s and one retry).
  // The daemon of our mount, by its command line (it names our own mountpoint).
  pid_t daemon_pid() {
    for (auto& e : std::filesystem::directory_iterator("/proc")) {
      std::string cmd = slurp(e.path().string() + "/cmdline");
      std::replace(cmd.begin(), cmd.end(), '\0', ' ');
      if (cmd.find(" mount ") != std::string::npos && cmd.find(" " + mnt_ + " ") != std::string::npos)
        return static_cast<pid_t>(std::stol(e.path().filename().string()));
    }
    return -1;
  }
  void leave_unwritten(const std::string& name, const std::vector<std::byte>& data, bool sigterm = false) {
    ASSERT_TRUE(mount("timeout=1s,retries=1,writeback_delay=3600s,spool_dir=" + spool()));
    int fd = ::open(path(name).c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    diod_->kill_hard();
    EXPECT_NE(::close(fd), 0);  // the write-back failed and close says so
    RunResult r;
    if (sigterm) {
      pid_t pid = daemon_pid();
      ASSERT_GT(pid, 0);
      ASSERT_EQ(::kill(pid, SIGTERM), 0);
    } else {
      r = run({"umount", mnt_});
      ASSERT_EQ(r.status, 0) << r.output;
    }
    mounted_ = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (netfs({"spool", spool()}).output.find("/" + name) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r = netfs({"spool", spool()});
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(url() + "  /" + name + "  " + std::to_string(data.size()) + " bytes"),
              std::string::npos)
        << r.output << slurp(work_ + "/netfs.log");
  }
};

TEST_F(Spool, PlainUmountWithTheServerDownKeepsTheDataForTheNextMount) {
  auto data = pattern(300000, 11);
  leave_unwritten("precious", data);
  EXPECT_NE(slurp(work_ + "/netfs.log").find("saved to the spool"), std::string::npos) << slurp(work_ + "/netfs.log");
  ASSERT_TRUE(diod_->start()) << diod_->error();
  ASSERT_TRUE(mount("spool_dir=" + spool()));
  // Uploaded before the mount was ready.
  EXPECT_EQ(diod_->file("precious"), data);
  auto r = netfs({"spool", spool()});
  EXPECT_NE(r.output.find("nothing waits"), std::string::npos) << r.output;
  EXPECT_EQ(pattern(300000, 11), [&] {
    auto s = slurp(path("precious"));
    std::vector<std::byte> v(s.size());
    std::memcpy(v.data(), s.data(), s.size());
    return v;
  }());
}

TEST_F(Spool, SigtermWithTheServerDownKeepsTheDataForTheNextMount) {
  auto data = pattern(150000, 13);
  leave_unwritten("termed", data, true);
  ASSERT_TRUE(diod_->start()) << diod_->error();
  ASSERT_TRUE(mount("spool_dir=" + spool()));
  EXPECT_EQ(diod_->file("termed"), data);
}

TEST_F(Spool, AServerFileChangedMeanwhileKeepsBothVersions) {
  auto data = pattern(200000, 12);
  leave_unwritten("shared", data);
  // Someone else writes the file on the server while we are away.
  {
    std::ofstream out(server_path("shared"), std::ios::binary | std::ios::trunc);
    out << "theirs";
  }
  ASSERT_TRUE(diod_->start()) << diod_->error();
  ASSERT_TRUE(mount("spool_dir=" + spool()));
  EXPECT_EQ(slurp(server_path("shared")), "theirs");
  std::string conflict;
  for (auto& e : std::filesystem::directory_iterator(diod_->dir()))
    if (e.path().filename().string().starts_with("shared.netfs-conflict-")) conflict = e.path().filename();
  ASSERT_FALSE(conflict.empty());
  EXPECT_EQ(diod_->file(conflict), data);
  std::string log = slurp(work_ + "/netfs.log");
  EXPECT_NE(log.find("/shared changed on the server"), std::string::npos) << log;
  EXPECT_NE(log.find(conflict), std::string::npos) << log;
  EXPECT_NE(netfs({"spool", spool()}).output.find("nothing waits"), std::string::npos);
}

}  // namespace
}  // namespace netfs::testing
