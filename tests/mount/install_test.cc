// Installing like a Debian tool: `cmake --install` with a prefix and a DESTDIR places
// everything under them, mount.netfs is a relative link to the installed netfs, and the
// installed helper mounts as mount(8) would run it. The manual pages are installed too.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fuse/mount_options.h"
#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

namespace fs = std::filesystem;

class Install : public MountFixture {
 protected:
  // Every entry below root, as paths relative to it.
  static std::vector<std::string> tree(const std::string& root) {
    std::vector<std::string> out;
    for (auto& e : fs::recursive_directory_iterator(root))
      out.push_back(fs::relative(e.path(), root).string());
    return out;
  }
};

TEST_F(Install, DestdirAndPrefixHoldEverythingAndTheHelperLinkIsRelative) {
  std::string destdir = work_ + "/destdir";
  auto r = run({"env", "DESTDIR=" + destdir, NETFS_CMAKE, "--install", NETFS_BUILD_DIR, "--prefix", "/usr"});
  ASSERT_EQ(r.status, 0) << r.output;
  for (const auto& p : tree(destdir)) EXPECT_TRUE(p == "usr" || p.starts_with("usr/")) << p << " outside the prefix";
  std::string helper = destdir + "/usr/sbin/mount.netfs";
  struct stat st;
  ASSERT_EQ(::lstat(helper.c_str(), &st), 0) << r.output;
  ASSERT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(fs::read_symlink(helper).string(), "../bin/netfs");
  EXPECT_EQ(fs::canonical(helper), fs::canonical(destdir + "/usr/bin/netfs"));
  EXPECT_EQ(::access((destdir + "/usr/bin/netfs").c_str(), X_OK), 0);
  EXPECT_TRUE(fs::exists(destdir + "/usr/share/doc/netfs/fuse.md"));
  EXPECT_TRUE(fs::exists(destdir + "/usr/share/netfs/netfs.bt"));
  // The manual pages render, and list every mount option the parser knows.
  std::string page = destdir + "/usr/share/man/man1/netfs.1";
  ASSERT_TRUE(fs::exists(page));
  EXPECT_TRUE(fs::exists(destdir + "/usr/share/man/man8/mount.netfs.8"));
  auto man = run({"env", "MANWIDTH=200", "man", "-l", page});
  ASSERT_EQ(man.status, 0) << man.output;
  for (const char* section : {"SYNOPSIS", "MOUNT OPTIONS", "SECURITY", "EXIT STATUS"})
    EXPECT_NE(man.output.find(section), std::string::npos) << section;
  for (const auto& spec : fuse::mount_option_table()) {
    std::string_view hint = fuse::option_value_hint(spec);
    std::string entry = std::string(spec.name) + (hint.empty() ? "" : "=" + std::string(hint));
    // A short tag shares its line with the text (man's .TP), a long one has its own.
    bool listed = man.output.find("\n       " + entry + "\n") != std::string::npos ||
                  man.output.find("\n       " + entry + " ") != std::string::npos;
    EXPECT_TRUE(listed) << entry << " missing from netfs(1)";
  }

  // A plain prefix, no DESTDIR: the same tree under it.
  std::string prefix = work_ + "/prefix";
  r = run({NETFS_CMAKE, "--install", NETFS_BUILD_DIR, "--prefix", prefix});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(fs::read_symlink(prefix + "/sbin/mount.netfs").string(), "../bin/netfs");
  EXPECT_EQ(fs::canonical(prefix + "/sbin/mount.netfs"), fs::canonical(prefix + "/bin/netfs"));
  for (const auto& p : tree(prefix)) EXPECT_FALSE(p.empty());
  EXPECT_FALSE(r.output.find(" /sbin/") != std::string::npos) << "installed outside the prefix: " << r.output;

  // The installed helper, run as mount(8) runs /sbin/mount.TYPE, mounts.
  r = run({helper, url(), mnt_, "-o", "rw,_netdev,noexec,log=" + work_ + "/netfs.log"});
  ASSERT_EQ(r.status, 0) << r.output;
  mounted_ = true;
  std::ofstream(path("via-installed-helper")) << "h";
  std::ifstream in(server_path("via-installed-helper"));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "h");
}

}  // namespace
}  // namespace netfs::testing
