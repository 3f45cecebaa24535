#include "fuse/mount_options.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

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
  EXPECT_EQ(o.p9.msize, 65536u);
  EXPECT_EQ(o.engine.memory_limit, 1ull << 30);
  EXPECT_EQ(o.engine.dirty_limit, 64ull << 20);
  EXPECT_EQ(o.engine.writeback_delay.count(), 500);
  EXPECT_EQ(o.engine.max_retries, 3u);
  EXPECT_EQ(o.p9.rpc_timeout.count(), 2000);
  EXPECT_DOUBLE_EQ(o.attr_timeout, 0.5);
  EXPECT_DOUBLE_EQ(o.entry_timeout, 0.0);
  EXPECT_TRUE(o.direct_io);
  EXPECT_TRUE(o.read_only);
  EXPECT_EQ(o.engine.readahead_max, 0u);
  EXPECT_EQ(o.p9.connections, 3u);
  ASSERT_TRUE(parse_mount_options("writeback_delay=5", &o, &why).ok());
  EXPECT_EQ(o.engine.writeback_delay.count(), 5000);
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
  EXPECT_TRUE(o.cache.dir.empty());  // no cache unless asked for
  ASSERT_TRUE(parse_mount_options("cache_dir=/var/cache/netfs,cache_size=20G,cache_min_free=1G", &o, &why).ok())
      << why;
  EXPECT_EQ(o.cache.dir, "/var/cache/netfs");
  EXPECT_EQ(o.cache.size_limit, 20ull << 30);
  EXPECT_EQ(o.cache.min_free, 1ull << 30);
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
  EXPECT_EQ(o.p9.auth, p9::Auth::kAuto);
  ASSERT_TRUE(parse_mount_options("auth=munge", &o, &why).ok()) << why;
  EXPECT_EQ(o.p9.auth, p9::Auth::kMunge);
  ASSERT_TRUE(parse_mount_options("auth=none", &o, &why).ok()) << why;
  EXPECT_EQ(o.p9.auth, p9::Auth::kNone);
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

// What users were promised before the table took over: the names and defaults stay.
TEST(MountOptions, DefaultsAreTheLayersOwnAndUnchanged) {
  const std::map<std::string, std::string> promised = {
      {"msize", "1M"}, {"conns", "1"}, {"max_fids", "512"}, {"timeout", "30s"}, {"uname", "root"},
      {"auth", "auto"}, {"retries", "10"}, {"memory", "0 (a quarter of RAM)"}, {"dirty_limit", "256M"},
      {"writeback_delay", "5s"}, {"readahead", "8M"}, {"attr_timeout", "1"}, {"entry_timeout", "1"},
      {"cache_size", "1G"}, {"threads", "16"}, {"umask", "0"}, {"direct_io", "off"}, {"rw", "on"}, {"ro", "off"},
      {"nosuid", "on"}, {"suid", "off"}, {"nodev", "on"}, {"exec", "on"}, {"relatime", "on"}, {"async", "on"},
      {"workers", "4"}, {"attr_threads", "8"}};
  std::map<std::string, std::string> shown;
  for (const auto& s : mount_option_table()) shown[std::string(s.name)] = option_default(s);
  for (const auto& [name, def] : promised) EXPECT_EQ(shown[name], def) << name;
  // The defaults are the layers' own: the mount does not copy them.
  MountOptions o;
  EXPECT_EQ(o.engine.dirty_limit, Options{}.dirty_limit);
  EXPECT_EQ(o.p9.msize, p9::ClientOptions{}.msize);
  EXPECT_EQ(o.cache.size_limit, cache::StoreOptions{}.size_limit);
}

// Every default the table shows parses back to the value the field starts with, so help
// and docs cannot show a default the parser would read differently.
TEST(MountOptions, EveryShownDefaultParsesToItself) {
  int checked = 0;
  for (const auto& s : mount_option_table()) {
    std::string def = option_default(s);
    if (s.kind == OptionKind::kFlag || !s.default_note.empty()) continue;
    MountOptions fresh, parsed;
    std::string why;
    ASSERT_TRUE(parse_mount_options(std::string(s.name) + "=" + def, &parsed, &why).ok()) << s.name << ": " << why;
    bool same = std::visit([&](auto* a) { return *a == *std::get<decltype(a)>(s.at(parsed)); }, s.at(fresh));
    EXPECT_TRUE(same) << s.name << "=" << def;
    checked++;
  }
  EXPECT_GE(checked, 15);
}

// docs/fuse.md's options table is the parser's table, row for row: edit the table in
// src/fuse/mount_options.cc and paste what this test prints.
TEST(MountOptions, DocsFuseMdListsTheTable) {
  std::ifstream in(NETFS_SOURCE_DIR "/docs/fuse.md");
  ASSERT_TRUE(in) << NETFS_SOURCE_DIR "/docs/fuse.md";
  std::string doc, line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.starts_with("| option | default |")) inside = true;
    else if (inside && !line.starts_with("|")) break;
    if (inside) doc += line + "\n";
  }
  std::string table = mount_options_markdown();
  EXPECT_EQ(doc, table) << "docs/fuse.md's options table should read:\n" << table;
  for (const auto& s : mount_option_table()) {
    EXPECT_NE(doc.find("| `" + std::string(s.name) + "` | " + option_default(s) + " |"), std::string::npos)
        << s.name << " with its default " << option_default(s) << " is not in docs/fuse.md";
  }
}

}  // namespace
}  // namespace netfs::fuse
