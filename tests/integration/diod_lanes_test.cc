// Several connections to one diod (ClientOptions::connections, src/p9/lanes.h): the
// engine's reads and writes travel over all of them, the bytes land right, and server
// restarts, renames, stale lane fids and clunks are handled on every connection.
#include <fcntl.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "integration/p9_fixture.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/read.h"
#include "netfs/write.h"
#include "p9/backend.h"
#include "p9/lanes.h"

namespace netfs::testing {
namespace {

using namespace netfs::p9;

class DiodLanes : public ::testing::Test {
 protected:
  void SetUp() override {
    diod_ = std::make_unique<DiodServer>();
    ASSERT_TRUE(diod_->start()) << diod_->error();
    Options eo;
    eo.retry_backoff = std::chrono::milliseconds(5);
    eo.retry_backoff_max = std::chrono::milliseconds(200);
    engine_ = std::make_unique<Engine>(eo);
    ClientOptions o = diod_options(*diod_);
    o.connections = 3;
    o.reconnect_backoff = std::chrono::milliseconds(5);
    o.reconnect_backoff_max = std::chrono::milliseconds(100);
    auto c = Client::connect(o);
    ASSERT_TRUE(c.ok()) << c.error().message();
    client_ = std::move(*c);
    ASSERT_NE(client_->lanes(), nullptr);
    ASSERT_EQ(client_->lanes()->size(), 2u);
    ns_ = std::make_unique<Namespace>(*client_);
    backend_ = std::make_unique<Backend>(*client_);
  }
  void TearDown() override {
    // The client (and its lanes) before the engine, as in DiodBackend.
    ns_.reset();
    client_.reset();
    engine_.reset();
    backend_.reset();
    diod_.reset();
  }

  // Replies each connection has delivered: [0] the main one, then the lanes.
  std::vector<uint64_t> rpcs() {
    std::vector<uint64_t> v{client_->stats().rpcs.load()};
    for (size_t i = 0; i < client_->lanes()->size(); i++) v.push_back(client_->lanes()->client(i).stats().rpcs.load());
    return v;
  }
  static std::vector<uint64_t> minus(std::vector<uint64_t> a, const std::vector<uint64_t>& b) {
    for (size_t i = 0; i < a.size(); i++) a[i] -= b[i];
    return a;
  }
  static std::string show(const std::vector<uint64_t>& v) {
    std::string s;
    for (uint64_t x : v) s += std::to_string(x) + " ";
    return s;
  }
  Status write_all(Inode& inode, const std::vector<std::byte>& data) {
    auto w = perform_write(inode, 0, data.data(), data.size());
    if (!w.ok()) return w.error();
    Errseq::Cursor cur = 0;
    return fsync(inode, cur);
  }
  Result<std::vector<std::byte>> read_all(Inode& inode, size_t n) {
    ReadaheadState ra;
    std::vector<std::byte> back(n);
    size_t got = 0;
    while (got < n) {
      auto r = buffered_read(inode, ra, got, back.data() + got, std::min<size_t>(1 << 20, n - got));
      if (!r.ok()) return r.error();
      if (*r == 0) break;
      got += *r;
    }
    back.resize(got);
    return back;
  }

  std::unique_ptr<DiodServer> diod_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(DiodLanes, ReadsAndWritesTravelOverEveryConnection) {
  const size_t n = 32u << 20;  // ~513 RPCs each way
  auto data = pattern(n, 7);
  auto c = ns_->create(Namespace::root(), "big", O_RDWR | O_TRUNC, 0644);
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto inode = engine_->new_inode(*backend_, c->fid, 0);
  auto before = rpcs();
  Status st = write_all(*inode, data);
  ASSERT_TRUE(st.ok()) << st.error().message();
  auto wrote = minus(rpcs(), before);
  EXPECT_TRUE(diod_->file("big") == data) << "the file on disk differs from what was written";
  // Round robin: a third each, less the few picks of a lane made while its fid was being
  // opened (those went over the main connection), plus the lane's Twalk and Tlopen.
  uint64_t total = wrote[0] + wrote[1] + wrote[2];
  EXPECT_GE(total, n / client_->max_io());
  for (uint64_t k : wrote) EXPECT_GE(k, total / 4) << "writes per connection: " << show(wrote);

  inode = engine_->new_inode(*backend_, c->fid, n);  // cold: nothing cached
  before = rpcs();
  auto back = read_all(*inode, n);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(*back == data) << "bytes read differ from the file";
  auto read = minus(rpcs(), before);
  total = read[0] + read[1] + read[2];
  for (uint64_t k : read) EXPECT_GE(k, total / 4) << "reads per connection: " << show(read);
  EXPECT_EQ(client_->stats().fids_stale.load(), 0u);
  inode.reset();
}

TEST_F(DiodLanes, WriteOf64MiBSurvivesTwoServerRestarts) {
  const size_t n = 64u << 20;
  auto data = pattern(n, 65);
  auto c = ns_->create(Namespace::root(), "big", O_RDWR, 0644);
  ASSERT_TRUE(c.ok()) << c.error().message();
  // ~1025 Twrites, a third of them on the main connection: kill and restart diod after
  // its 100th and 250th reply, with writes in flight on all three connections.
  bool restarted_ok = true;
  int restarts = 0;
  client_->test_on_reply([&](uint64_t k) {
    if (k == 100 || k == 250) {
      restarted_ok &= diod_->restart();
      restarts++;
    }
  });
  auto inode = engine_->new_inode(*backend_, c->fid, 0);
  Status st = write_all(*inode, data);
  ASSERT_TRUE(st.ok()) << st.error().message();
  client_->test_on_reply(nullptr);
  ASSERT_TRUE(restarted_ok) << diod_->error();
  EXPECT_EQ(restarts, 2);
  EXPECT_EQ(client_->stats().reconnects.load(), 2u) << client_->stats().format();
  // Every connection lost its server twice and came back by itself (a lane that was idle
  // at the second kill may reconnect at its next call, so at least once).
  uint64_t lost_on_lanes = 0;
  for (size_t i = 0; i < client_->lanes()->size(); i++) {
    const ClientStats& s = client_->lanes()->client(i).stats();
    EXPECT_GE(s.reconnects.load(), 1u) << "lane " << i << ": " << s.format();
    EXPECT_EQ(s.fids_stale.load(), 0u) << "lane " << i << ": " << s.format();
    EXPECT_GE(s.fids_rebuilt.load(), 1u) << "lane " << i << " re-opened the file: " << s.format();
    lost_on_lanes += s.failed_on_disconnect;
  }
  EXPECT_GT(lost_on_lanes, 0u) << "writes were in flight on the lanes when diod died";
  EXPECT_GT(engine_->stats().write_retry_subreq.load(), 0u) << "in-flight writes were replayed by the engine";
  EXPECT_EQ(client_->stats().fids_stale.load(), 0u);
  auto f = diod_->file("big");
  ASSERT_EQ(f.size(), n);
  EXPECT_TRUE(f == data) << "the file on disk differs from what was written";
  inode.reset();
}

TEST_F(DiodLanes, RenamedFileIsRebuiltOnEveryConnection) {
  const size_t n = 4u << 20;
  auto data = pattern(n, 9);
  ASSERT_TRUE(ns_->mkdir(Namespace::root(), "d", 0755).ok());
  auto d = ns_->lookup(Namespace::root(), "d");
  ASSERT_TRUE(d.ok());
  auto c = ns_->create(d->fid, "a", O_RDWR, 0644);
  ASSERT_TRUE(c.ok());
  auto inode = engine_->new_inode(*backend_, c->fid, 0);
  ASSERT_TRUE(write_all(*inode, data).ok());  // opens the file on both lanes
  ASSERT_TRUE(ns_->rename(d->fid, "a", Namespace::root(), "b").ok());
  ASSERT_TRUE(diod_->restart()) << diod_->error();
  // Reads after the restart: every connection reconnects and walks the new name.
  inode = engine_->new_inode(*backend_, c->fid, n);
  auto before = rpcs();
  auto back = read_all(*inode, n);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(*back == data);
  auto read = minus(rpcs(), before);
  for (size_t i = 0; i < client_->lanes()->size(); i++) {
    EXPECT_EQ(client_->lanes()->client(i).stats().fids_stale.load(), 0u) << "lane " << i << " walked the old name";
    EXPECT_GT(read[i + 1], 0u) << "lane " << i << " carried no reads: " << show(read);
  }
  inode.reset();
}

TEST_F(DiodLanes, StaleLaneFidFallsBackToTheMainConnection) {
  const size_t n = 4u << 20;
  auto data = pattern(n, 11);
  auto c = ns_->create(Namespace::root(), "f", O_RDWR, 0644);
  ASSERT_TRUE(c.ok());
  auto inode = engine_->new_inode(*backend_, c->fid, 0);
  ASSERT_TRUE(write_all(*inode, data).ok());
  // As a lane reconnect that could not rebuild them would leave them.
  for (size_t i = 0; i < client_->lanes()->size(); i++) {
    FidTable& t = client_->lanes()->client(i).fids();
    for (auto& [fid, fi] : t.snapshot())
      if (fid != FidTable::kRootFid) t.mark_stale(fid);
  }
  inode = engine_->new_inode(*backend_, c->fid, n);
  auto before = rpcs();
  auto back = read_all(*inode, n);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(*back == data);
  auto read = minus(rpcs(), before);
  EXPECT_EQ(read[1] + read[2], 0u) << "no RPC on a stale lane fid: " << show(read);
  EXPECT_GE(read[0], n / client_->max_io());
  inode.reset();
}

TEST_F(DiodLanes, ClunkReleasesTheLaneFids) {
  auto c = ns_->create(Namespace::root(), "f", O_RDWR, 0644);
  ASSERT_TRUE(c.ok());
  auto data = pattern(4u << 20, 13);
  auto inode = engine_->new_inode(*backend_, c->fid, 0);
  auto before = rpcs();
  ASSERT_TRUE(write_all(*inode, data).ok());
  inode.reset();
  auto wrote = minus(rpcs(), before);
  for (size_t i = 0; i < client_->lanes()->size(); i++) {
    // More replies than the Twalk and Tlopen: data went over the lane, so its fid is open.
    ASSERT_GT(wrote[i + 1], 2u) << show(wrote);
    ASSERT_EQ(client_->lanes()->client(i).fids().size(), 2u) << "the lane's root and the file";
  }
  ASSERT_TRUE(ns_->clunk(c->fid).ok());
  for (size_t i = 0; i < client_->lanes()->size(); i++)
    EXPECT_EQ(client_->lanes()->client(i).fids().size(), 1u) << "only the lane's root is left";
  // The names are free again: the file can be removed and made anew, and opened on lanes.
  ASSERT_TRUE(ns_->unlink(Namespace::root(), "f").ok());
  auto c2 = ns_->create(Namespace::root(), "f", O_RDWR, 0644);
  ASSERT_TRUE(c2.ok());
  inode = engine_->new_inode(*backend_, c2->fid, 0);
  ASSERT_TRUE(write_all(*inode, data).ok());
  EXPECT_TRUE(diod_->file("f") == data);
  inode.reset();
}

// Found in review: RPCs parked behind a lane open of a file that was then forgotten
// (clunked with I/O in flight) went to the main connection with the old main fid number,
// which asynchronous clunk may already have handed to another file. They must fail
// (ESTALE, which the engine does not retry), and route() after forget() must neither
// send on the old number nor leave lane state behind. The server is stopped (SIGSTOP)
// so the lane opens are certainly in flight when the file is forgotten.
TEST_F(DiodLanes, ParkedRpcsOfAForgottenFileFailInsteadOfReachingItsOldFid) {
  auto c = ns_->create(Namespace::root(), "f", O_RDWR, 0644);
  ASSERT_TRUE(c.ok());
  Lanes& l = *client_->lanes();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Result<Lanes::Target>> got;
  auto send = [&](Result<Lanes::Target> t) {
    std::lock_guard lk(mu);
    got.push_back(std::move(t));
    cv.notify_all();
  };
  auto count = [&] {
    std::lock_guard lk(mu);
    return got.size();
  };
  ASSERT_EQ(::kill(diod_->pid(), SIGSTOP), 0);
  struct Cont {
    pid_t pid;
    ~Cont() { ::kill(pid, SIGCONT); }  // whatever fails below, diod runs again
  } cont{diod_->pid()};
  // One RPC per connection: the main one's is sent at once, each lane's waits for the
  // lane's Twalk + Tlopen, which the stopped server does not answer.
  for (int i = 0; i < 3; i++) l.route(c->fid, send);
  ASSERT_EQ(count(), 1u);
  EXPECT_TRUE(got[0].ok() && got[0]->client == nullptr && got[0]->fid == c->fid);
  EXPECT_EQ(l.test_files(), 1u);
  client_->release_fid(c->fid);  // forgotten with both lane opens in flight
  EXPECT_EQ(l.test_files(), 0u);
  // Routed after forget: refused at once on every connection, and no state is made.
  for (int i = 0; i < 3; i++) l.route(c->fid, send);
  ASSERT_EQ(count(), 4u);
  for (size_t i = 1; i < 4; i++) EXPECT_EQ(got[i].errnum(), ESTALE) << i;
  EXPECT_EQ(l.test_files(), 0u) << "route() after forget() made an entry nobody removes";
  ASSERT_EQ(::kill(diod_->pid(), SIGCONT), 0);
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(20), [&] { return got.size() == 6; }));
  }
  // The two parked RPCs: failed, not sent on the old main fid.
  for (size_t i = 4; i < 6; i++) EXPECT_EQ(got[i].errnum(), ESTALE) << i;
  EXPECT_FALSE(is_retryable(ESTALE)) << "the engine must not retry these forever";
  EXPECT_EQ(l.test_files(), 0u);
}

// Client::lanes() is read without a lock (client.h): close() (the destructor's first
// step) closes the lanes but keeps the object, so routing through it while the client
// closes, and after, is safe and fails with ESHUTDOWN. Under TSan this also checks that
// the reads race with nothing (the lanes were once destroyed at the start of ~Client).
TEST_F(DiodLanes, RoutingWhileTheClientClosesFailsWithEshutdown) {
  auto c = ns_->create(Namespace::root(), "f", O_RDWR, 0644);
  ASSERT_TRUE(c.ok());
  std::mutex mu;
  std::condition_variable cv;
  size_t issued = 0, completed = 0, shut = 0;
  // One RPC (a Tgetattr, harmless) over whatever connection route() picked.
  auto route_one = [&] {
    Lanes* l = client_->lanes();
    ASSERT_NE(l, nullptr);
    (void)l->max_io();
    {
      std::lock_guard lk(mu);
      issued++;
    }
    l->route(c->fid, [&](Result<Lanes::Target> t) {
      auto done = [&](int err) {
        std::lock_guard lk(mu);
        completed++;
        shut += err == ESHUTDOWN;
        cv.notify_all();
      };
      if (!t.ok()) return done(t.errnum());
      Client* via = t->client ? t->client : client_.get();
      auto m = encode(msg::Tgetattr{t->fid, getattr_mask::kBasic});
      via->call(std::move(*m), MsgType::kRgetattr, Replay::kResend,
                [done](Result<Reply> r) { done(r.ok() ? 0 : r.errnum()); });
    });
  };
  std::atomic<bool> stop{false};
  std::thread router([&] {
    while (!stop.load()) route_one();
    route_one();  // after close() returned: every connection is closed by then
  });
  bool underway;
  {
    // Close only once routing is under way (some RPCs answered), so the two overlap.
    std::unique_lock lk(mu);
    underway = cv.wait_for(lk, std::chrono::seconds(20), [&] { return completed >= 10; });
  }
  client_->close();
  stop = true;
  router.join();  // before any ASSERT can return: the thread uses this frame
  ASSERT_TRUE(underway);
  std::lock_guard lk(mu);
  EXPECT_EQ(completed, issued) << "every routed RPC completed (closed connections fail at once)";
  EXPECT_GE(shut, 1u) << "the RPC routed after close() failed with ESHUTDOWN";
  EXPECT_NE(client_->lanes(), nullptr) << "closed, not destroyed";
}

TEST(DiodLanesOptions, ConnectionsOutOfRangeAreRefused) {
  DiodServer d;
  ASSERT_TRUE(d.start()) << d.error();
  ClientOptions o = diod_options(d);
  for (size_t bad : {size_t(0), kMaxConnections + 1}) {
    o.connections = bad;
    EXPECT_EQ(Client::connect(o).errnum(), EINVAL) << bad;
  }
  o.connections = kMaxConnections;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ((*c)->lanes()->size(), kMaxConnections - 1);
}

}  // namespace
}  // namespace netfs::testing
