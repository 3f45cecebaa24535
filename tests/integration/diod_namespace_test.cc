// Namespace operations against a real diod, checked against the exported directory.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
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
// wait for. create = Tlcreate on the root's spare clone (the clone walk for the next one
// travels meanwhile), lookup = Twalk, open = Tlopen, unlink = Twalk + Tremove (diod
// 1.0.24 has no Tunlinkat), and the two clunks wait for nothing: 5 (6 while create
// cloned synchronously, 8 while clunk waited for Rclunk). The wait for the spare before
// each cycle pins the count down: when it lands is the server's business (the bench
// measures cycles without it).
TEST_F(DiodNamespace, CreateCycleWaitsForFiveRoundTrips) {
  auto cycle = [&](const std::string& name) {
    ASSERT_TRUE(ns_->test_wait_spares(std::chrono::seconds(10)));
    auto c = ns_->create(Namespace::root(), name, O_RDWR | O_CREAT, 0644);
    ASSERT_TRUE(c.ok()) << c.error().message();
    auto e = ns_->lookup(Namespace::root(), name);
    ASSERT_TRUE(e.ok()) << e.error().message();
    ASSERT_TRUE(ns_->open(e->fid, O_RDONLY).ok());
    ASSERT_TRUE(ns_->clunk(e->fid).ok());
    ASSERT_TRUE(ns_->clunk(c->fid).ok());
    ASSERT_TRUE(ns_->unlink(Namespace::root(), name).ok());
  };
  cycle("warm-up");  // learns that Tunlinkat is not supported; clones synchronously once
  uint64_t before = client_->stats().sync_rpcs;
  const int n = 50;
  for (int i = 0; i < n; i++) cycle("f" + std::to_string(i));
  EXPECT_EQ(client_->stats().sync_rpcs - before, 5u * n) << client_->stats().format();
  EXPECT_EQ(client_->stats().create_spares_used.load(), uint64_t(n));
  EXPECT_FALSE(fs::exists(diod_->dir() + "/f0"));
  // Clunked fids left the table at once (a reconnect would not rebuild them), and no
  // Tclunk went unanswered.
  EXPECT_EQ(client_->stats().clunks_unanswered.load(), 0u);
  ASSERT_TRUE(ns_->test_wait_spares(std::chrono::seconds(10)));
  EXPECT_EQ(client_->fids().size(), 2u) << "the root fid and its spare clone";
  ns_.reset();
  EXPECT_EQ(client_->fids().size(), 1u) << "the Namespace clunks its spares";
}

// A run of creates in one directory: the first waits for the clone walk and the Tlcreate,
// every later one only for the Tlcreate (its clone was made while the previous create
// went on). The spare is clunked with its directory fid: no fid is left behind.
TEST_F(DiodNamespace, RunOfCreatesInOneDirectoryWaitsForOneRoundTripLessEach) {
  ASSERT_TRUE(ns_->mkdir(Namespace::root(), "d", 0755).ok());
  auto d = ns_->lookup(Namespace::root(), "d");
  ASSERT_TRUE(d.ok());
  const size_t base = client_->fids().size();  // the root and d
  std::vector<uint32_t> made;
  std::vector<uint64_t> waited;
  for (int i = 0; i < 20; i++) {
    // When the spare lands is up to the server; waiting for it makes the count exact.
    ASSERT_TRUE(ns_->test_wait_spares(std::chrono::seconds(10)));
    uint64_t before = client_->stats().sync_rpcs;
    auto c = ns_->create(d->fid, "f" + std::to_string(i), O_RDWR | O_CREAT | O_EXCL, 0644);
    ASSERT_TRUE(c.ok()) << c.error().message();
    waited.push_back(client_->stats().sync_rpcs - before);
    made.push_back(c->fid);
  }
  EXPECT_EQ(waited[0], 2u) << "clone walk + Tlcreate";
  for (size_t i = 1; i < waited.size(); i++) EXPECT_EQ(waited[i], 1u) << "create " << i;
  EXPECT_EQ(client_->stats().create_spares_used.load(), 19u);
  for (int i = 0; i < 20; i++) EXPECT_TRUE(fs::is_regular_file(diod_->dir() + "/d/f" + std::to_string(i))) << i;
  // The created fids name the new files, not the directory.
  auto a = ns_->getattr(made[5]);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->qid.type & qid_type::kDir);
  ASSERT_TRUE(ns_->test_wait_spares(std::chrono::seconds(10)));
  EXPECT_EQ(client_->fids().size(), base + made.size() + 1) << "the files and d's spare";
  for (uint32_t f : made) ASSERT_TRUE(ns_->clunk(f).ok());
  ASSERT_TRUE(ns_->clunk(d->fid).ok());
  EXPECT_EQ(client_->fids().size(), base - 1) << "d's spare went with d";
}

// Creates racing in one directory never share a spare; a clone still in flight when its
// directory fid is clunked is clunked when it lands.
TEST_F(DiodNamespace, ConcurrentCreatesInOneDirectoryLeakNoFid) {
  ASSERT_TRUE(ns_->mkdir(Namespace::root(), "d", 0755).ok());
  auto d = ns_->lookup(Namespace::root(), "d");
  ASSERT_TRUE(d.ok());
  const size_t base = client_->fids().size();
  const int threads = 4, each = 25;
  std::vector<std::vector<uint32_t>> fids(threads);
  std::vector<std::thread> ts;
  std::atomic<int> failed{0};
  for (int t = 0; t < threads; t++)
    ts.emplace_back([&, t] {
      for (int i = 0; i < each; i++) {
        auto c = ns_->create(d->fid, "t" + std::to_string(t) + "-" + std::to_string(i), O_RDWR | O_CREAT | O_EXCL, 0644);
        if (!c.ok()) {
          failed++;
          continue;
        }
        fids[t].push_back(c->fid);
      }
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(failed.load(), 0);
  std::set<uint32_t> all;
  for (auto& v : fids)
    for (uint32_t f : v) all.insert(f);
  EXPECT_EQ(all.size(), size_t(threads * each)) << "two creates got the same fid";
  for (int t = 0; t < threads; t++)
    for (int i = 0; i < each; i++) {
      std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
      EXPECT_TRUE(fs::is_regular_file(diod_->dir() + "/d/" + name)) << name;
      auto q = ns_->lookup(d->fid, name);
      ASSERT_TRUE(q.ok());
      EXPECT_EQ(q->qid.path, client_->fids().get(fids[t][i])->qid.path) << name;
      ASSERT_TRUE(ns_->clunk(q->fid).ok());
    }
  for (uint32_t f : all) ASSERT_TRUE(ns_->clunk(f).ok());
  // One more create, and d clunked while the clone it sent is (most likely) in flight.
  auto last = ns_->create(d->fid, "last", O_RDWR | O_CREAT, 0644);
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(ns_->clunk(d->fid).ok());
  ASSERT_TRUE(ns_->clunk(last->fid).ok());
  ASSERT_TRUE(ns_->test_wait_spares(std::chrono::seconds(10)));
  EXPECT_EQ(client_->fids().size(), base - 1) << "a spare outlived its directory fid";
  EXPECT_EQ(client_->stats().clunks_unanswered.load(), 0u);
}

}  // namespace
}  // namespace netfs::testing
