#include "fuse/mount_options.h"

#include <gtest/gtest.h>

namespace netfs::fuse {
namespace {

TEST(MountOptions, ParsesSizesDurationsAndFlags) {
  MountOptions o;
  std::string why;
  ASSERT_TRUE(parse_mount_options("msize=64K,memory=1G,dirty_limit=64M,writeback_delay=500ms,retries=3,"
                                  "timeout=2s,attr_timeout=0.5,entry_timeout=0,direct_io,ro,readahead=0,conns=3",
                                  &o, &why)
                  .ok())
      << why;
  EXPECT_EQ(o.msize, 65536u);
  EXPECT_EQ(o.memory, 1ull << 30);
  EXPECT_EQ(o.dirty_limit, 64ull << 20);
  EXPECT_EQ(o.writeback_delay.count(), 500);
  EXPECT_EQ(o.retries, 3u);
  EXPECT_EQ(o.timeout.count(), 2000);
  EXPECT_DOUBLE_EQ(o.attr_timeout, 0.5);
  EXPECT_DOUBLE_EQ(o.entry_timeout, 0.0);
  EXPECT_TRUE(o.direct_io);
  EXPECT_TRUE(o.read_only);
  EXPECT_EQ(o.readahead_max, 0u);
  EXPECT_EQ(o.conns, 3u);
  ASSERT_TRUE(parse_mount_options("writeback_delay=5", &o, &why).ok());
  EXPECT_EQ(o.writeback_delay.count(), 5000);
}

TEST(MountOptions, RefusesUnknownMalformedAndOutOfRangeByName) {
  for (const char* bad : {"nosuch=1", "msize=1", "msize=17M", "msize=", "msize", "dirty_limit=lots",
                          "retries=-1", "retries=1001", "timeout=0", "attr_timeout=-1", "attr_timeout=1e9",
                          "direct_io=1", "writeback_delay=2h", "memory=1K", "msize=99999999999999999999G",
                          "conns=0", "conns=17", "conns=", "conns=x"}) {
    MountOptions o;
    std::string why;
    EXPECT_FALSE(parse_mount_options(bad, &o, &why).ok()) << bad;
    std::string name = std::string(bad).substr(0, std::string(bad).find('='));
    EXPECT_NE(why.find(name), std::string::npos) << bad << ": " << why;
  }
}

TEST(MountOptions, CacheOptions) {
  MountOptions o;
  std::string why;
  EXPECT_TRUE(o.cache_dir.empty());  // no cache unless asked for
  ASSERT_TRUE(parse_mount_options("cache_dir=/var/cache/netfs,cache_size=20G,cache_min_free=1G", &o, &why).ok())
      << why;
  EXPECT_EQ(o.cache_dir, "/var/cache/netfs");
  EXPECT_EQ(o.cache_size, 20ull << 30);
  EXPECT_EQ(o.cache_min_free, 1ull << 30);
  for (const char* bad : {"cache_dir=relative/dir", "cache_dir=", "cache_size=1K", "cache_size=x", "cache_min_free="}) {
    MountOptions b;
    EXPECT_FALSE(parse_mount_options(bad, &b, &why).ok()) << bad;
    EXPECT_NE(why.find(std::string(bad).substr(0, std::string(bad).find('='))), std::string::npos) << why;
  }
}

TEST(MountOptions, StripsWhatOnlyMount8ActsOn) {
  // Mount flags stay: the mount applies them (mount(8) does not, for a helper's type).
  EXPECT_EQ(strip_generic_mount_options("rw,defaults,_netdev,msize=1M,nofail,x-systemd.automount,noauto,ro,noexec"),
            "rw,msize=1M,ro,noexec");
}

TEST(MountOptions, AllowOtherImpliesDefaultPermissionsUnlessRefused) {
  std::string why;
  MountOptions o;
  EXPECT_FALSE(o.kernel_checks_permissions());
  ASSERT_TRUE(parse_mount_options("allow_other", &o, &why).ok());
  EXPECT_TRUE(o.kernel_checks_permissions());
  ASSERT_TRUE(parse_mount_options("no_default_permissions", &o, &why).ok());
  EXPECT_FALSE(o.kernel_checks_permissions());
  MountOptions p;
  ASSERT_TRUE(parse_mount_options("default_permissions", &p, &why).ok());
  EXPECT_TRUE(p.kernel_checks_permissions());
}

TEST(MountOptions, MountFlagsStartAtFusesDefaultsAndTheLastOneWins) {
  std::string why;
  MountOptions o;
  EXPECT_TRUE(o.nosuid && o.nodev);
  EXPECT_FALSE(o.noexec || o.read_only || o.noatime || o.sync || o.dirsync);
  ASSERT_TRUE(parse_mount_options("ro,noexec,suid,dev,noatime,sync,dirsync", &o, &why).ok()) << why;
  EXPECT_TRUE(o.read_only && o.noexec && o.noatime && o.sync && o.dirsync);
  EXPECT_FALSE(o.nosuid || o.nodev);
  ASSERT_TRUE(parse_mount_options("rw,exec,nosuid,nodev,relatime,async", &o, &why).ok()) << why;
  EXPECT_FALSE(o.read_only || o.noexec || o.noatime || o.sync);
  EXPECT_TRUE(o.nosuid && o.nodev);
  EXPECT_FALSE(parse_mount_options("noexec=1", &o, &why).ok());
}

TEST(MountOptions, UidGidUmaskAreWhatTheMountShows) {
  std::string why;
  MountOptions o;
  EXPECT_FALSE(o.uid || o.gid);
  EXPECT_EQ(o.umask, 0u);
  ASSERT_TRUE(parse_mount_options("uid=1000,gid=nogroup,umask=027", &o, &why).ok()) << why;
  EXPECT_EQ(o.uid, 1000u);
  EXPECT_EQ(o.gid, 65534u);
  EXPECT_EQ(o.umask, 027u);
  ASSERT_TRUE(parse_mount_options("uid=nobody", &o, &why).ok()) << why;
  EXPECT_EQ(o.uid, 65534u);
  for (const char* bad : {"uid=no-such-user-here", "gid=", "umask=8", "umask=01000", "uid=4294967295"}) {
    MountOptions b;
    EXPECT_FALSE(parse_mount_options(bad, &b, &why).ok()) << bad;
  }
}

TEST(MountOptions, AuthIsAutoNoneOrMunge) {
  std::string why;
  MountOptions o;
  EXPECT_EQ(o.auth, "auto");
  ASSERT_TRUE(parse_mount_options("auth=munge", &o, &why).ok()) << why;
  EXPECT_EQ(o.auth, "munge");
  ASSERT_TRUE(parse_mount_options("auth=none", &o, &why).ok()) << why;
  EXPECT_EQ(o.auth, "none");
  EXPECT_FALSE(parse_mount_options("auth=kerberos", &o, &why).ok());
  EXPECT_NE(why.find("auth"), std::string::npos) << why;
}

// 4294967296 used to be cast to uint32_t: uid 0, an attach as root under another name.
TEST(MountOptions, ANumericUnameBeyondAnyUidIsRefusedNotWrapped) {
  auto id = numeric_uname("1000");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(id->has_value());
  EXPECT_EQ(**id, 1000u);
  auto name = numeric_uname("alice");
  ASSERT_TRUE(name.ok());
  EXPECT_FALSE(name->has_value());
  EXPECT_FALSE(numeric_uname("4294967296").ok());
  EXPECT_FALSE(numeric_uname("4294967295").ok());  // 9P's "no uid"
  EXPECT_FALSE(numeric_uname("99999999999999999999999").ok());
  MountOptions o;
  std::string why;
  EXPECT_FALSE(parse_mount_options("uname=4294967296", &o, &why).ok());
  EXPECT_TRUE(parse_mount_options("uname=4294967294", &o, &why).ok()) << why;
}

}  // namespace
}  // namespace netfs::fuse
