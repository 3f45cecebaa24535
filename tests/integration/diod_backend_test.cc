// The 9P backend under the real engine: buffered writes written back in msize-sized
// RPCs, reads through issue_read, truncation through set_size.
#include <fcntl.h>

#include "integration/p9_fixture.h"
#include "integration/subreq_driver.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/read.h"
#include "netfs/write.h"
#include "p9/backend.h"

namespace netfs::testing {
namespace {

using namespace netfs::p9;

class DiodBackend : public DiodFixture {
 protected:
  void SetUp() override {
    DiodFixture::SetUp();
    Options o;
    o.retry_backoff = std::chrono::milliseconds(1);
    engine_ = std::make_unique<Engine>(o);
    backend_ = std::make_unique<Backend>(*client_);
    auto c = ns_->create(Namespace::root(), "data", O_RDWR, 0644);
    ASSERT_TRUE(c.ok()) << c.error().message();
    fid_ = c->fid;
    inode_ = engine_->new_inode(*backend_, fid_, 0);
  }
  void TearDown() override {
    inode_.reset();
    // The client first: its destructor joins the I/O thread, which may still be inside
    // the tail of Subrequest::terminated() (dropping references into the engine's work
    // queue) after the request's waiter has returned.
    ns_.reset();
    client_.reset();
    engine_.reset();
    backend_.reset();
    DiodFixture::TearDown();
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Backend> backend_;
  std::shared_ptr<Inode> inode_;
  uint32_t fid_ = 0;
};

TEST_F(DiodBackend, WritebackUsesFullSizeRpcs) {
  const size_t n = 8u << 20;
  auto data = pattern(n, 1);
  auto w = perform_write(*inode_, 0, data.data(), n);
  ASSERT_TRUE(w.ok()) << w.error().message();
  Errseq::Cursor cur = 0;
  uint64_t sent_before = client_->stats().rpcs;
  ASSERT_TRUE(fsync(*inode_, cur).ok());
  EXPECT_EQ(diod_->file("data"), data);
  // Every Twrite carries max_write() bytes except the last.
  uint64_t expect = (n + client_->max_write() - 1) / client_->max_write();
  EXPECT_EQ(engine_->stats().upload_subreqs.load(), expect);
  EXPECT_EQ(client_->stats().rpcs - sent_before, expect);
  EXPECT_EQ(engine_->stats().upload_bytes.load(), n);
}

TEST_F(DiodBackend, ReadsThroughIssueRead) {
  const size_t n = 3u << 20;
  auto data = pattern(n, 2);
  ASSERT_EQ(*ns_->write(fid_, 0, data.data(), n), n);
  std::vector<std::byte> back(n + 4096);
  auto r = drive_subrequests(*engine_, inode_, *backend_, false, 0, back.data(), back.size(), 16);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, n) << "short at end of file";
  back.resize(n);
  EXPECT_EQ(back, data);
}

TEST_F(DiodBackend, EngineReadPathThroughTheBackend) {
  const size_t n = (4u << 20) + 12345;  // not a multiple of anything
  auto data = pattern(n, 5);
  ASSERT_EQ(*ns_->write(fid_, 0, data.data(), n), n);
  auto cold = engine_->new_inode(*backend_, fid_, n);
  ReadaheadState ra;
  std::vector<std::byte> back(n + 100);
  size_t got = 0;
  uint64_t rpcs = client_->stats().rpcs;
  while (got < back.size()) {
    auto r = buffered_read(*cold, ra, got, back.data() + got, std::min<size_t>(300000, back.size() - got));
    ASSERT_TRUE(r.ok()) << r.error().message();
    if (*r == 0) break;
    got += *r;
  }
  ASSERT_EQ(got, n);
  back.resize(n);
  EXPECT_EQ(back, data);
  // Readahead reads in whole RPCs: not many more than the minimum.
  uint64_t min_rpcs = (n + client_->max_read() - 1) / client_->max_read();
  EXPECT_LE(client_->stats().rpcs - rpcs, min_rpcs + min_rpcs / 4);

  std::vector<std::byte> direct(1u << 20);
  auto u = unbuffered_read(*cold, 1000, direct.data(), direct.size());
  ASSERT_TRUE(u.ok()) << u.error().message();
  ASSERT_EQ(*u, direct.size());
  EXPECT_TRUE(std::equal(direct.begin(), direct.end(), data.begin() + 1000));
}

TEST_F(DiodBackend, UnbufferedWriteAndSetSize) {
  const size_t n = 1u << 20;
  auto data = pattern(n, 3);
  auto w = unbuffered_write(*inode_, 4096, data.data(), n);
  ASSERT_TRUE(w.ok()) << w.error().message();
  EXPECT_EQ(*w, n);
  auto f = diod_->file("data");
  ASSERT_EQ(f.size(), n + 4096);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), f.begin() + 4096));
  ASSERT_TRUE(backend_->set_size(*inode_, 100).ok());
  EXPECT_EQ(diod_->file("data").size(), 100u);
}

TEST_F(DiodBackend, WriteSingleGoesWholeInSeveralRpcs) {
  const size_t n = 5 * client_->max_write() + 17;  // larger than one RPC
  auto data = pattern(n, 4);
  auto w = write_single(*inode_, data.data(), n);
  ASSERT_TRUE(w.ok()) << w.error().message();
  EXPECT_EQ(*w, n);
  EXPECT_EQ(diod_->file("data"), data);
}

TEST_F(DiodBackend, StaleFidFailsWithEstale) {
  client_->fids().mark_stale(fid_);
  std::vector<std::byte> buf(100);
  auto r = drive_subrequests(*engine_, inode_, *backend_, false, 0, buf.data(), buf.size(), 1);
  EXPECT_EQ(r.errnum(), ESTALE);
}

}  // namespace
}  // namespace netfs::testing
