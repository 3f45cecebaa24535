// Namespace operations against a real diod, checked against the exported directory.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "integration/p9_fixture.h"

namespace netfs::testing {
namespace {

using namespace netfs::p9;
namespace fs = std::filesystem;

class DiodNamespace : public DiodFixture {};

TEST_F(DiodNamespace, CreateWriteGetattrSetattr) {
  auto c = ns_->create(Namespace::root(), "f", O_RDWR, 0640);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_FALSE(c->qid.type & qid_type::kDir);
  ASSERT_EQ(*ns_->write(c->fid, 0, "hello", 5), 5u);
  auto a = ns_->getattr(c->fid, getattr_mask::kAll);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size, 5u);
  EXPECT_EQ(a->mode & 0777, 0640u);
  EXPECT_EQ(a->qid.path, c->qid.path) << "file identity is the qid path";
  EXPECT_EQ(a->qid.path, fs::status(diod_->dir() + "/f").type() == fs::file_type::regular ? a->qid.path : 0);

  SetAttr s;
  s.valid = setattr_mask::kSize | setattr_mask::kMode;
  s.size = 3;
  s.mode = 0600;
  ASSERT_TRUE(ns_->setattr(c->fid, s).ok());
  EXPECT_EQ(fs::file_size(diod_->dir() + "/f"), 3u);
  struct stat st;
  ASSERT_EQ(stat((diod_->dir() + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_ino, a->qid.path) << "diod uses the inode number as qid.path";
  EXPECT_TRUE(ns_->fsync(c->fid, false).ok());
  EXPECT_TRUE(ns_->clunk(c->fid).ok());
  EXPECT_EQ(ns_->create(Namespace::root(), "f", O_RDWR | O_CREAT | O_EXCL, 0644).errnum(), EEXIST);
}

TEST_F(DiodNamespace, DirectoriesAndReaddir) {
  ASSERT_TRUE(ns_->mkdir(Namespace::root(), "d", 0755).ok());
  auto d = ns_->lookup(Namespace::root(), "d");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->qid.type & qid_type::kDir);
  for (int i = 0; i < 300; i++) {
    auto c = ns_->create(d->fid, "file-with-a-longish-name-" + std::to_string(i), O_WRONLY, 0644);
    ASSERT_TRUE(c.ok()) << i;
    ASSERT_TRUE(ns_->clunk(c->fid).ok());
  }
  auto all = ns_->readdir_all(d->fid);
  ASSERT_TRUE(all.ok()) << all.error().message();
  std::vector<std::string> names;
  for (auto& e : *all)
    if (e.name != "." && e.name != "..") names.push_back(e.name);
  EXPECT_EQ(names.size(), 300u) << "needs several Treaddir rounds";
  EXPECT_EQ(ns_->rmdir(Namespace::root(), "d").errnum(), ENOTEMPTY);
  for (int i = 0; i < 300; i++) ASSERT_TRUE(ns_->unlink(d->fid, "file-with-a-longish-name-" + std::to_string(i)).ok());
  EXPECT_TRUE(ns_->clunk(d->fid).ok());
  EXPECT_TRUE(ns_->rmdir(Namespace::root(), "d").ok());
  EXPECT_FALSE(fs::exists(diod_->dir() + "/d"));
  EXPECT_EQ(ns_->unlink(Namespace::root(), "d").errnum(), ENOENT);
}

TEST_F(DiodNamespace, WalkManyLevels) {
  // Deeper than one Twalk's 16 names.
  std::vector<std::string> path;
  uint32_t dir = Namespace::root();
  std::vector<uint32_t> opened;
  for (int i = 0; i < 20; i++) {
    std::string n = "l" + std::to_string(i);
    ASSERT_TRUE(ns_->mkdir(dir, n, 0755).ok());
    auto e = ns_->lookup(dir, n);
    ASSERT_TRUE(e.ok());
    opened.push_back(e->fid);
    dir = e->fid;
    path.push_back(n);
  }
  auto deep = ns_->walk(Namespace::root(), path);
  ASSERT_TRUE(deep.ok()) << deep.error().message();
  auto a = ns_->getattr(deep->fid);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->qid.path, ns_->getattr(dir)->qid.path);
  EXPECT_EQ(client_->fids().get(deep->fid)->path, path);
  path.back() = "missing";
  size_t before = client_->fids().size();
  EXPECT_EQ(ns_->walk(Namespace::root(), path).errnum(), ENOENT);
  EXPECT_EQ(client_->fids().size(), before) << "a failed walk leaves no fid behind";
}

TEST_F(DiodNamespace, SymlinkLinkMknodRename) {
  auto c = ns_->create(Namespace::root(), "target", O_RDWR, 0644);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(ns_->symlink(Namespace::root(), "sl", "target").ok());
  auto sl = ns_->lookup(Namespace::root(), "sl");
  ASSERT_TRUE(sl.ok());
  EXPECT_EQ(*ns_->readlink(sl->fid), "target");
  ASSERT_TRUE(ns_->link(Namespace::root(), c->fid, "hard").ok());
  EXPECT_EQ(fs::hard_link_count(diod_->dir() + "/target"), 2u);
  ASSERT_TRUE(ns_->mknod(Namespace::root(), "fifo", S_IFIFO | 0644, 0, 0).ok());
  EXPECT_TRUE(fs::is_fifo(diod_->dir() + "/fifo"));

  ASSERT_TRUE(ns_->mkdir(Namespace::root(), "sub", 0755).ok());
  auto sub = ns_->lookup(Namespace::root(), "sub");
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(ns_->rename(Namespace::root(), "target", sub->fid, "moved").ok());
  EXPECT_TRUE(fs::exists(diod_->dir() + "/sub/moved"));
  // The open fid's remembered path follows the rename (a reconnect re-walks it there).
  EXPECT_EQ(client_->fids().get(c->fid)->path, (Path{"sub", "moved"}));
  EXPECT_EQ(ns_->rename(Namespace::root(), "nothing", sub->fid, "x").errnum(), ENOENT);
}

TEST_F(DiodNamespace, StatfsXattrsLocks) {
  auto st = ns_->statfs(Namespace::root());
  ASSERT_TRUE(st.ok());
  EXPECT_GT(st->bsize, 0u);
  EXPECT_GT(st->blocks, 0u);

  auto c = ns_->create(Namespace::root(), "x", O_RDWR, 0644);
  ASSERT_TRUE(c.ok());
  std::string v = "some value";
  Status set = ns_->setxattr(c->fid, "user.netfs", ByteSpan(reinterpret_cast<const std::byte*>(v.data()), v.size()));
  if (!set.ok() && (set.errnum() == EOPNOTSUPP || set.errnum() == ENOTSUP)) {
    GTEST_SKIP() << "the export's filesystem has no user xattrs";
  }
  ASSERT_TRUE(set.ok()) << set.error().message();
  auto got = ns_->getxattr(c->fid, "user.netfs");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got->data()), got->size()), v);
  auto names = ns_->listxattr(c->fid);
  ASSERT_TRUE(names.ok());
  EXPECT_NE(std::find(names->begin(), names->end(), "user.netfs"), names->end());
  EXPECT_TRUE(ns_->removexattr(c->fid, "user.netfs").ok());
  EXPECT_FALSE(ns_->getxattr(c->fid, "user.netfs").ok());

  Lock l{lock_type::kWrlck, 0, 100, 4242, "netfs-test"};
  auto s = ns_->lock(c->fid, l);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(*s, lock_status::kSuccess);
  auto g = ns_->getlock(c->fid, Lock{lock_type::kWrlck, 0, 100, 4243, "netfs-test"});
  ASSERT_TRUE(g.ok()) << g.error().message();
  l.type = lock_type::kUnlck;
  EXPECT_EQ(*ns_->lock(c->fid, l), lock_status::kSuccess);
}

// issue 7: how many round trips a create/lookup/open/close/unlink cycle makes its caller
// wait for. create = clone walk + Tlcreate, lookup = Twalk, open = Tlopen, unlink = Twalk
// + Tremove (diod 1.0.24 has no Tunlinkat), and the two clunks wait for nothing: 6
// (8 while clunk waited for Rclunk).
TEST_F(DiodNamespace, CreateCycleWaitsForSixRoundTrips) {
  auto cycle = [&](const std::string& name) {
    auto c = ns_->create(Namespace::root(), name, O_RDWR | O_CREAT, 0644);
    ASSERT_TRUE(c.ok()) << c.error().message();
    auto e = ns_->lookup(Namespace::root(), name);
    ASSERT_TRUE(e.ok()) << e.error().message();
    ASSERT_TRUE(ns_->open(e->fid, O_RDONLY).ok());
    ASSERT_TRUE(ns_->clunk(e->fid).ok());
    ASSERT_TRUE(ns_->clunk(c->fid).ok());
    ASSERT_TRUE(ns_->unlink(Namespace::root(), name).ok());
  };
  cycle("warm-up");  // learns that Tunlinkat is not supported (one extra round trip, once)
  uint64_t before = client_->stats().sync_rpcs;
  const int n = 50;
  for (int i = 0; i < n; i++) cycle("f" + std::to_string(i));
  EXPECT_EQ(client_->stats().sync_rpcs - before, 6u * n) << client_->stats().format();
  EXPECT_FALSE(fs::exists(diod_->dir() + "/f0"));
  // Clunked fids left the table at once (a reconnect would not rebuild them), and no
  // Tclunk went unanswered.
  EXPECT_EQ(client_->stats().clunks_unanswered.load(), 0u);
  EXPECT_EQ(client_->fids().size(), 1u) << "only the root fid is left";
}

}  // namespace
}  // namespace netfs::testing
