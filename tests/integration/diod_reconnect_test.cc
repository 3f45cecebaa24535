// Reconnect and replay against a real diod that is killed (SIGKILL) and restarted.
#include <fcntl.h>

#include <filesystem>

#include "integration/p9_fixture.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/read.h"
#include "netfs/write.h"
#include "p9/backend.h"

namespace netfs::testing {
namespace {

using namespace netfs::p9;

class DiodReconnect : public DiodFixture {
 protected:
  void SetUp() override {
    diod_ = std::make_unique<DiodServer>();
    ASSERT_TRUE(diod_->start()) << diod_->error();
    Options eo;
    eo.retry_backoff = std::chrono::milliseconds(5);
    eo.retry_backoff_max = std::chrono::milliseconds(200);
    engine_ = std::make_unique<Engine>(eo);
    ClientOptions o = diod_options(*diod_);
    o.trace = &conn_trace_;
    o.reconnect_backoff = std::chrono::milliseconds(5);
    o.reconnect_backoff_max = std::chrono::milliseconds(100);
    auto c = Client::connect(o);
    ASSERT_TRUE(c.ok()) << c.error().message();
    client_ = std::move(*c);
    ns_ = std::make_unique<Namespace>(*client_);
  }
  void TearDown() override {
    // The client before the engine (see DiodBackend's TearDown).
    ns_.reset();
    client_.reset();
    engine_.reset();
    DiodFixture::TearDown();
  }
  std::unique_ptr<Engine> engine_;
  Trace conn_trace_{256};  // the client's connection events only
  size_t traced(TraceReason r) const {
    size_t n = 0;
    for (const auto& rec : conn_trace_.snapshot()) n += rec.reason == r;
    return n;
  }
};

TEST_F(DiodReconnect, WriteOf64MiBSurvivesTwoServerRestarts) {
  const size_t n = 64u << 20;
  auto data = pattern(n, 64);
  auto c = ns_->create(Namespace::root(), "big", O_RDWR, 0644);
  ASSERT_TRUE(c.ok()) << c.error().message();
  Backend backend(*client_);
  // ~1025 write RPCs in all: kill and restart diod right after the 300th and the 700th
  // reply, from the client's I/O thread, so that the restart lands at that exact point
  // with the following RPCs in flight.
  bool restarted_ok = true;
  int restarts = 0;
  client_->test_on_reply([&](uint64_t n) {
    if (n == 300 || n == 700) {
      restarted_ok &= diod_->restart();
      restarts++;
    }
  });
  auto inode = engine_->new_inode(backend, c->fid, 0);
  auto w = perform_write(*inode, 0, data.data(), n);
  ASSERT_TRUE(w.ok()) << w.error().message();
  Errseq::Cursor cur = 0;
  Status st = fsync(*inode, cur);
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_TRUE(restarted_ok) << diod_->error();
  EXPECT_EQ(restarts, 2);
  EXPECT_EQ(client_->stats().reconnects.load(), 2u) << client_->stats().format();
  // Each loss and each reconnect is a backend event in the trace, as the counters say.
  EXPECT_EQ(traced(TraceReason::k_backend_up), 2u);
  EXPECT_EQ(traced(TraceReason::k_backend_lost), client_->stats().disconnects.load());
  EXPECT_GT(engine_->stats().write_retry_subreq.load(), 0u) << "in-flight writes were replayed by the engine";
  EXPECT_EQ(client_->stats().fids_stale.load(), 0u);
  client_->test_on_reply(nullptr);
  auto f = diod_->file("big");
  ASSERT_EQ(f.size(), n);
  EXPECT_TRUE(f == data) << "the file on disk differs from what was written";
  inode.reset();
}

TEST_F(DiodReconnect, ReadOf32MiBSurvivesAServerRestart) {
  const size_t n = 32u << 20;
  auto data = pattern(n, 32);
  auto c = ns_->create(Namespace::root(), "r", O_RDWR, 0644);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(*ns_->write(c->fid, 0, data.data(), n), n);
  Backend backend(*client_);
  auto inode = engine_->new_inode(backend, c->fid, n);
  bool restarted_ok = true;
  uint64_t at = client_->stats().rpcs + 200;  // ~200 reads into ~512
  Client* cl = client_.get();
  client_->test_on_reply([&, cl](uint64_t) {
    if (cl->stats().rpcs == at) restarted_ok &= diod_->restart();
  });
  ReadaheadState ra;
  std::vector<std::byte> back(n);
  size_t got = 0;
  while (got < n) {
    auto r = buffered_read(*inode, ra, got, back.data() + got, std::min<size_t>(1 << 20, n - got));
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_GT(*r, 0u);
    got += *r;
  }
  client_->test_on_reply(nullptr);
  ASSERT_TRUE(restarted_ok) << diod_->error();
  EXPECT_EQ(client_->stats().reconnects.load(), 1u) << client_->stats().format();
  EXPECT_TRUE(back == data) << "bytes read differ from the file";
  inode.reset();
}

TEST_F(DiodReconnect, FidsAreRebuiltAndIdempotentCallsResent) {
  ASSERT_TRUE(ns_->mkdir(Namespace::root(), "dir", 0755).ok());
  auto d = ns_->lookup(Namespace::root(), "dir");
  ASSERT_TRUE(d.ok());
  auto f = ns_->create(d->fid, "file", O_RDWR, 0644);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(*ns_->write(f->fid, 0, "abc", 3), 3u);

  ASSERT_TRUE(diod_->restart()) << diod_->error();
  // The first call after the kill meets a dead connection; it is held and resent.
  auto a = ns_->getattr(f->fid);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->size, 3u);
  EXPECT_EQ(a->qid.path, f->qid.path);
  EXPECT_GE(client_->stats().reconnects.load(), 1u);
  EXPECT_GE(client_->stats().fids_rebuilt.load(), 2u) << client_->stats().format();
  // The re-opened fid still does I/O, with the same number.
  ASSERT_EQ(*ns_->write(f->fid, 3, "def", 3), 3u);
  EXPECT_EQ(diod_->file("dir/file").size(), 6u);
  // Namespace changes after a reconnect.
  EXPECT_TRUE(ns_->mkdir(d->fid, "sub", 0755).ok());
  EXPECT_TRUE(ns_->unlink(d->fid, "file").ok());
}

TEST_F(DiodReconnect, AFileRemovedWhileDisconnectedBecomesStale) {
  auto f = ns_->create(Namespace::root(), "doomed", O_RDWR, 0644);
  ASSERT_TRUE(f.ok());
  diod_->kill_hard();
  std::filesystem::remove(diod_->dir() + "/doomed");
  ASSERT_TRUE(diod_->start()) << diod_->error();
  // Wait for the reconnect through an idempotent call on the root.
  ASSERT_TRUE(ns_->getattr(Namespace::root()).ok());
  EXPECT_TRUE(client_->fids().is_stale(f->fid));
  EXPECT_EQ(ns_->write(f->fid, 0, "x", 1).errnum(), ESTALE);
  EXPECT_EQ(client_->stats().fids_stale.load(), 1u);
}

// A create's spare clone of its directory is an ordinary fid: a reconnect rebuilds it by
// path and the next create uses it, landing in the right directory. One that cannot be
// rebuilt (the directory was replaced while disconnected) is stale and never used.
TEST_F(DiodReconnect, CreateSpareIsRebuiltOrNotUsed) {
  ASSERT_TRUE(ns_->mkdir(Namespace::root(), "d", 0755).ok());
  auto d = ns_->lookup(Namespace::root(), "d");
  ASSERT_TRUE(d.ok());
  auto a = ns_->create(d->fid, "a", O_RDWR | O_CREAT, 0644);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(ns_->test_wait_spares(std::chrono::seconds(10)));
  ASSERT_TRUE(diod_->restart()) << diod_->error();
  ASSERT_TRUE(ns_->getattr(d->fid).ok());  // waits for the reconnect
  uint64_t used = client_->stats().create_spares_used;
  auto b = ns_->create(d->fid, "b", O_RDWR | O_CREAT, 0644);
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_EQ(client_->stats().create_spares_used - used, 1u) << "the rebuilt spare was used";
  EXPECT_TRUE(std::filesystem::is_regular_file(diod_->dir() + "/d/b"));
  EXPECT_EQ(client_->stats().fids_stale.load(), 0u);
  // Now d is replaced by another directory while the server is down: d's fid and its
  // spare cannot be rebuilt, and the create must not land in the new d.
  ASSERT_TRUE(ns_->test_wait_spares(std::chrono::seconds(10)));
  diod_->kill_hard();
  std::filesystem::rename(diod_->dir() + "/d", diod_->dir() + "/old-d");
  std::filesystem::create_directory(diod_->dir() + "/d");
  ASSERT_TRUE(diod_->start()) << diod_->error();
  ASSERT_TRUE(ns_->getattr(Namespace::root()).ok());
  EXPECT_TRUE(client_->fids().is_stale(d->fid));
  used = client_->stats().create_spares_used;
  auto c = ns_->create(d->fid, "c", O_RDWR | O_CREAT, 0644);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(client_->stats().create_spares_used.load(), used) << "a stale spare was used";
  EXPECT_FALSE(std::filesystem::exists(diod_->dir() + "/d/c"));
  EXPECT_FALSE(std::filesystem::exists(diod_->dir() + "/old-d/c"));
}

TEST_F(DiodReconnect, LocksAreTakenAgain) {
  auto f = ns_->create(Namespace::root(), "locked", O_RDWR, 0644);
  ASSERT_TRUE(f.ok());
  auto s = ns_->lock(f->fid, Lock{lock_type::kWrlck, 0, 10, 77, "netfs-test"});
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_EQ(*s, lock_status::kSuccess);
  ASSERT_TRUE(diod_->restart()) << diod_->error();
  ASSERT_TRUE(ns_->getattr(f->fid).ok());
  EXPECT_EQ(client_->stats().locks_reacquired.load(), 1u) << client_->stats().format();
  EXPECT_FALSE(client_->fids().is_stale(f->fid));
  EXPECT_EQ(*ns_->lock(f->fid, Lock{lock_type::kUnlck, 0, 10, 77, "netfs-test"}), lock_status::kSuccess);
  EXPECT_TRUE(client_->fids().get(f->fid)->locks.empty());
}

TEST_F(DiodReconnect, CallsTimeOutWhileTheServerStaysDown) {
  ClientOptions o = diod_options(*diod_);
  o.rpc_timeout = std::chrono::milliseconds(300);
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok()) << c.error().message();
  Namespace ns(**c);
  diod_->kill_hard();
  auto a = ns.getattr(Namespace::root());
  EXPECT_EQ(a.errnum(), ETIMEDOUT);
  EXPECT_GE((*c)->stats().reconnect_failures.load(), 1u);
  // And it comes back by itself once the server does.
  ASSERT_TRUE(diod_->start()) << diod_->error();
  ASSERT_TRUE((*c)->test_wait_reconnects(1, std::chrono::seconds(10)));
  EXPECT_TRUE(ns.getattr(Namespace::root()).ok());
}

TEST_F(DiodReconnect, DroppedConnectionAloneReconnects) {
  auto f = ns_->create(Namespace::root(), "x", O_RDWR, 0644);
  ASSERT_TRUE(f.ok());
  client_->test_drop_connection();
  ASSERT_TRUE(client_->test_wait_reconnects(1, std::chrono::seconds(10)));
  ASSERT_EQ(*ns_->write(f->fid, 0, "hello", 5), 5u);
  EXPECT_EQ(diod_->file("x").size(), 5u);
}

TEST_F(DiodReconnect, CreateLostInFlightIsResolvedByLooking) {
  // A create whose reply never came: drop the connection right after sending it. The
  // outcome is read from the server, so the caller gets the file exactly once.
  auto d = ns_->lookup(Namespace::root(), ".");
  ASSERT_TRUE(d.ok());
  std::vector<uint32_t> fids;
  for (int i = 0; i < 20; i++) {
    client_->test_drop_connection();
    auto c = ns_->create(Namespace::root(), "c" + std::to_string(i), O_RDWR | O_CREAT, 0644);
    ASSERT_TRUE(c.ok()) << i << ": " << c.error().message();
    fids.push_back(c->fid);
  }
  for (int i = 0; i < 20; i++) EXPECT_TRUE(std::filesystem::exists(diod_->dir() + "/c" + std::to_string(i)));
  for (uint32_t f : fids) ASSERT_EQ(*ns_->write(f, 0, "z", 1), 1u);
}

}  // namespace
}  // namespace netfs::testing
