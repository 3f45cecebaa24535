// The client against a real diod: msize negotiation, pipelining, the largest read and
// write diod accepts, errors, both transports.
#include <fcntl.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "integration/p9_fixture.h"

namespace netfs::testing {
namespace {

using namespace netfs::p9;

class DiodClient : public DiodFixture {};

TEST_F(DiodClient, NegotiatesMsizeDownFromOneMiB) {
  // Debian 12's diod grants 64 KiB whatever we ask; we must accept what it grants.
  EXPECT_LE(client_->msize(), 1u << 20);
  EXPECT_GE(client_->msize(), kMinMsize);
  EXPECT_EQ(client_->max_write(), client_->msize() - 24);
  EXPECT_EQ(client_->max_read(), client_->msize() - 24);
}

TEST_F(DiodClient, ErrorsArriveAsErrno) {
  auto e = ns_->lookup(Namespace::root(), "does-not-exist");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_FALSE(ns_->getattr(12345).ok()) << "an unknown fid (diod says EIO)";
}

TEST_F(DiodClient, FullSizeReadAndWriteAreAccepted) {
  auto c = ns_->create(Namespace::root(), "big", O_RDWR, 0644);
  ASSERT_TRUE(c.ok()) << c.error().message();
  // diod refuses one byte more than msize - 24 (P9_IOHDRSZ), even though Twrite's own
  // header is 23 bytes: the limit is the server's, and max_write() must match it.
  {
    size_t over = client_->max_write() + 1;
    Bytes m = encode_twrite(c->fid, 0, static_cast<uint32_t>(over), [&](std::byte* p) { std::fill(p, p + over, std::byte{0}); });
    EXPECT_FALSE(client_->call_sync(std::move(m), MsgType::kRwrite, Replay::kResend).ok());
  }
  // Exactly msize - 24 in one RPC each way.
  size_t n = client_->max_write();
  std::vector<std::byte> data(n);
  for (size_t i = 0; i < n; i++) data[i] = std::byte(i * 7);
  Bytes m = encode_twrite(c->fid, 0, static_cast<uint32_t>(n), [&](std::byte* p) { std::copy(data.begin(), data.end(), p); });
  EXPECT_EQ(m.size(), client_->msize() - 1);
  auto w = client_->call_sync(std::move(m), MsgType::kRwrite, Replay::kResend);
  ASSERT_TRUE(w.ok()) << w.error().message();
  EXPECT_EQ(decode<msg::Rwrite>(*w)->count, n);

  auto r = client_->call_sync(encode(msg::Tread{c->fid, 0, static_cast<uint32_t>(client_->max_read())}).value(),
                              MsgType::kRread, Replay::kResend);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(decode<msg::Rread>(*r)->data.v.size(), client_->max_read());
  std::vector<std::byte> back(n);
  ASSERT_EQ(*ns_->read(c->fid, 0, back.data(), n), n);
  EXPECT_EQ(back, data);
  EXPECT_TRUE(ns_->clunk(c->fid).ok());
}

TEST_F(DiodClient, ManyCallsInFlightOnOneConnection) {
  auto c = ns_->create(Namespace::root(), "pipelined", O_RDWR, 0644);
  ASSERT_TRUE(c.ok());
  const size_t chunk = client_->max_write(), count = 256;
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0, bytes = 0, failed = 0;
  for (size_t i = 0; i < count; i++) {
    Bytes m = encode_twrite(c->fid, i * chunk, static_cast<uint32_t>(chunk),
                            [&](std::byte* p) { std::fill(p, p + chunk, std::byte(i)); });
    client_->call(std::move(m), MsgType::kRwrite, Replay::kFail, [&](Result<Reply> r) {
      std::lock_guard lk(mu);
      if (r.ok())
        bytes += decode<msg::Rwrite>(r->body)->count;
      else
        failed++;
      done++;
      cv.notify_all();
    });
  }
  std::unique_lock lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(30), [&] { return done == count; }));
  EXPECT_EQ(failed, 0u);
  EXPECT_EQ(bytes, chunk * count);
  auto f = diod_->file("pipelined");
  ASSERT_EQ(f.size(), chunk * count);
  for (size_t i = 0; i < count; i++) ASSERT_EQ(f[i * chunk + chunk / 2], std::byte(i)) << i;
}

TEST_F(DiodClient, WorksOverAUnixSocket) {
  connect(DiodServer::Transport::kUnix);
  auto a = ns_->getattr(Namespace::root(), getattr_mask::kAll);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_TRUE(a->qid.type & qid_type::kDir);
}

TEST_F(DiodClient, ConnectToNothingFails) {
  ClientOptions o = diod_options(*diod_);
  diod_->kill_hard();
  client_.reset();
  auto c = Client::connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.errnum(), ECONNREFUSED);
}

}  // namespace
}  // namespace netfs::testing
