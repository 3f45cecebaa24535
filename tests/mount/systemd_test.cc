// The systemd unit pair of docs/fuse.md, taken from that file: the .mount unit run as the
// `mount -t TYPE WHAT WHERE -o OPTIONS` that systemd executes for it, in a private mount
// namespace where an empty tmpfs over /usr/sbin holds only mount.netfs, so this machine's
// /sbin is not touched. No systemd runs here: this checks that the unit the docs give
// mounts and applies its options, not systemd's ordering. (The docs' fstab line is run
// through mount -T by MountFlags.Mount8FromAnFstabLineAppliesThem.)
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

std::string docs() {
  std::ifstream in(std::string(NETFS_SOURCE_DIR) + "/docs/fuse.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Systemd : public MountFixture {
 protected:
  void SetUp() override {
    MountFixture::SetUp();
    ASSERT_EQ(geteuid(), 0u) << "mount(8) and unshare need root";
    text_ = docs();
    ASSERT_FALSE(text_.empty());
  }
  // Runs `mount_cmd` where mount(8) finds the built helper, then shows the mount's
  // mountinfo line, tries to run a script on it and unmounts with netfs umount.
  RunResult mount_in_namespace(const std::string& mount_cmd) {
    {
      std::ofstream(path("script.sh")) << "#!/bin/sh\nexit 0\n";
    }
    ::chmod(path("script.sh").c_str(), 0755);
    std::string script =
        "set -e; mount -t tmpfs none /usr/sbin; ln -s " NETFS_BIN " /usr/sbin/mount.netfs; " + mount_cmd +
        "; grep ' " + mnt_ + " ' /proc/self/mountinfo; if " + mnt_ + "/script.sh; then echo EXEC-ALLOWED; fi; "
        "echo from-systemd > " + mnt_ + "/written; " NETFS_BIN " umount " + mnt_;
    return run({"unshare", "-m", "--propagation", "private", "sh", "-c", script});
  }
  void expect_mounted_noexec(const RunResult& r) {
    EXPECT_EQ(r.status, 0) << r.output;
    size_t at = r.output.find(" " + mnt_ + " ");
    ASSERT_NE(at, std::string::npos) << r.output;
    std::istringstream fields(r.output.substr(at));
    std::string point, flags;
    fields >> point >> flags;
    EXPECT_NE(("," + flags + ",").find(",noexec,"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("EXEC-ALLOWED"), std::string::npos) << r.output;
    std::ifstream in(server_path("written"));
    std::string got;
    in >> got;
    EXPECT_EQ(got, "from-systemd");
  }
  std::string text_;
};

TEST_F(Systemd, MountUnitFromTheDocsMounts) {
  // The docs print the two units side by side: the .mount unit is the left column, from
  // its [Mount] line to the blank line after it; the .automount unit the right one.
  size_t at = text_.find("    [Mount]");
  ASSERT_NE(at, std::string::npos) << "docs/fuse.md has no .mount unit";
  std::istringstream in(text_.substr(at));
  std::string line, what, where, type, options;
  while (std::getline(in, line) && line.starts_with("    ")) {
    std::istringstream cols(line);
    std::string left;
    cols >> left;
    auto value = [&](const char* key) { return left.substr(std::string(key).size()); };
    if (left.starts_with("What=")) what = value("What=");
    if (left.starts_with("Where=")) where = value("Where=");
    if (left.starts_with("Type=")) type = value("Type=");
    if (left.starts_with("Options=")) options = value("Options=");
  }
  ASSERT_EQ(type, "netfs");
  ASSERT_EQ(where, "/mnt/remote");
  ASSERT_TRUE(what.starts_with("9p://")) << what;
  ASSERT_FALSE(options.empty());
  // The automount unit watches the same place, and the unit names follow it.
  size_t am = text_.find("[Automount]\n");
  ASSERT_NE(am, std::string::npos) << "docs/fuse.md has no .automount unit";
  std::string next = text_.substr(am + 12, text_.find('\n', am + 12) - (am + 12));
  EXPECT_NE(next.find("Where=" + where), std::string::npos) << next;
  EXPECT_NE(text_.find("mnt-remote.mount"), std::string::npos);
  EXPECT_NE(text_.find("mnt-remote.automount"), std::string::npos);
  // What systemd runs for a .mount unit (mount -t TYPE WHAT WHERE -o OPTIONS).
  std::string cmd = "mount -t " + type + " " + url() + " " + mnt_ + " -o " + options;
  expect_mounted_noexec(mount_in_namespace(cmd));
}

}  // namespace
}  // namespace netfs::testing
