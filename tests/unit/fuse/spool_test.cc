// The spool's files on disk (src/fuse/spool.h): what save writes, list reads back, and
// that a manifest cut short or never renamed into place names nothing.
#include "fuse/spool.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "fuse/mount_options.h"

namespace netfs::fuse {
namespace {

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/netfs-spool-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_;
};

SpoolEntry entry(const std::string& url, const std::string& path) {
  SpoolEntry e;
  e.export_url = url;
  e.path = path;
  e.size = 10000;
  e.seen_valid = true;
  e.qid_path = 77;
  e.version = 3;
  e.mtime_sec = 1700000000;
  e.mtime_nsec = 5;
  e.server_size = 0;
  e.ranges = {{0, 4}, {9996, 4}};
  return e;
}

TEST_F(SpoolTest, SavedEntriesListWithTheirDataAndGoWhenRemoved) {
  Spool sp(root_ + "/a/spool");  // made on first save, 0700
  SpoolEntry e = entry("9p://h:1/x", "/dir/odd%name\nwith newline");
  std::vector<std::byte> data(8);
  for (size_t i = 0; i < data.size(); i++) data[i] = std::byte(i + 1);
  ASSERT_TRUE(sp.save(e, data).ok());
  SpoolEntry other = entry("9p://h:1/y", "/f");
  ASSERT_TRUE(sp.save(other, data).ok());
  struct stat st;
  ASSERT_EQ(::stat(sp.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto all = sp.list();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  auto mine = sp.list("9p://h:1/x");
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 1u);
  const SpoolEntry got = mine->front();
  EXPECT_EQ(got.path, e.path);
  EXPECT_EQ(got.size, 10000u);
  EXPECT_TRUE(got.seen_valid);
  EXPECT_EQ(got.qid_path, 77u);
  EXPECT_EQ(got.version, 3u);
  EXPECT_EQ(got.mtime_sec, 1700000000u);
  EXPECT_EQ(got.mtime_nsec, 5u);
  EXPECT_EQ(got.ranges, e.ranges);
  EXPECT_EQ(got.bytes(), 8u);
  std::vector<std::byte> back(4);
  ASSERT_TRUE(sp.read(got, 4, back.data(), 4).ok());
  EXPECT_EQ(back, std::vector<std::byte>(data.begin() + 4, data.end()));

  ASSERT_TRUE(sp.remove(got).ok());
  mine = sp.list("9p://h:1/x");
  ASSERT_TRUE(mine.ok());
  EXPECT_TRUE(mine->empty());
  EXPECT_FALSE(std::filesystem::exists(sp.dir() + "/" + got.id + ".data"));
}

TEST_F(SpoolTest, AManifestCutShortOrNotRenamedNamesNothing) {
  Spool sp(root_);
  // What a crash can leave: data without a manifest, a temporary manifest, a manifest
  // without its last line.
  std::ofstream(root_ + "/1-1-0.data") << "abcd";
  std::ofstream(root_ + "/1-1-0.manifest.tmp") << "netfs-spool 1\nexport 9p://h:1/x\npath /f\nrange 0 4\nend\n";
  std::ofstream(root_ + "/1-1-1.manifest") << "netfs-spool 1\nexport 9p://h:1/x\npath /f\nrange 0 4\n";
  auto l = sp.list();
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->empty());
  EXPECT_TRUE(Spool(root_ + "/none").list()->empty());
}

TEST(SpoolDir, FollowsTheOptions) {
  MountOptions o;
  EXPECT_EQ(spool_dir_for(o), default_spool_dir());
  o.cache.dir = "/c";
  EXPECT_EQ(spool_dir_for(o), "/c/spool");
  o.spool_dir = "/s";
  EXPECT_EQ(spool_dir_for(o), "/s");
}

}  // namespace
}  // namespace netfs::fuse
