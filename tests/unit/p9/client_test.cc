// The client against a scripted server: tag matching, in-flight limits, timeouts and
// Tflush, cancellation, hostile replies, lost connections.
#include "p9/client.h"
#include "p9/namespace_ops.h"

#include <gtest/gtest.h>

#include <future>
#include <set>

#include "unit/p9/fake_server.h"

namespace netfs::p9 {
namespace {

using testing::FakeServer;
using namespace std::chrono_literals;

using testing::connect;
using testing::opts;

// An asynchronous getattr whose outcome the test can wait for.
struct Pending {
  std::promise<Result<Attr>> p;
  std::future<Result<Attr>> f = p.get_future();
  uint64_t id = 0;
};
std::shared_ptr<Pending> getattr(Client& c, uint32_t fid, Replay replay = Replay::kResend) {
  auto pend = std::make_shared<Pending>();
  pend->id = c.call(encode(msg::Tgetattr{fid, getattr_mask::kBasic}).value(), MsgType::kRgetattr, replay,
                    [pend](Result<Reply> r) {
                      if (!r.ok()) return pend->p.set_value(r.error());
                      auto a = decode<msg::Rgetattr>(r->body);
                      if (!a.ok()) return pend->p.set_value(a.error());
                      pend->p.set_value(a->attr);
                    });
  return pend;
}
msg::Rgetattr attr_with_size(uint64_t size) {
  msg::Rgetattr r;
  r.attr.size = size;
  return r;
}
uint32_t fid_of(const FakeServer::Msg& m) { return decode<msg::Tgetattr>(m.body)->fid; }

TEST(P9Client, NegotiationChecksTheServer) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->msize(), 8192u);
  c.reset();  // the fake serves one connection at a time

  s.set_version_reply(2u << 20, kVersion9P2000L);  // more than asked
  EXPECT_EQ(Client::connect(opts(s)).errnum(), EPROTO);
  s.set_version_reply(8192, "9P2000");
  EXPECT_EQ(Client::connect(opts(s)).errnum(), EPROTONOSUPPORT);
  s.set_version_reply(100, kVersion9P2000L);  // too small to be useful
  EXPECT_EQ(Client::connect(opts(s)).errnum(), EPROTO);
}

TEST(P9Client, RepliesInAnyOrderReachTheirCallers) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  std::vector<std::shared_ptr<Pending>> calls;
  for (uint32_t i = 0; i < 20; i++) calls.push_back(getattr(*c, 100 + i));
  std::vector<FakeServer::Msg> got;
  std::set<uint16_t> tags;
  for (int i = 0; i < 20; i++) {
    auto m = s.next();
    ASSERT_TRUE(m);
    tags.insert(m->tag);
    got.push_back(*m);
  }
  EXPECT_EQ(tags.size(), 20u) << "every call in flight has its own tag";
  for (auto it = got.rbegin(); it != got.rend(); ++it) s.reply(it->tag, attr_with_size(fid_of(*it)));
  for (uint32_t i = 0; i < 20; i++) {
    auto r = calls[i]->f.get();
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->size, 100 + i);
  }
}

TEST(P9Client, InFlightIsBounded) {
  FakeServer s;
  auto o = opts(s);
  o.max_inflight = 4;
  auto c = connect(o);
  ASSERT_TRUE(c);
  std::vector<std::shared_ptr<Pending>> calls;
  for (uint32_t i = 0; i < 12; i++) calls.push_back(getattr(*c, i));
  for (int round = 0; round < 3; round++) {
    std::vector<FakeServer::Msg> batch;
    for (int i = 0; i < 4; i++) {
      auto m = s.next();
      ASSERT_TRUE(m);
      batch.push_back(*m);
    }
    EXPECT_FALSE(s.next(50ms)) << "a fifth call went out while four were unanswered";
    for (auto& m : batch) s.reply(m.tag, attr_with_size(1));
  }
  for (auto& p : calls) EXPECT_TRUE(p->f.get().ok());
}

TEST(P9Client, TimeoutFlushesAndHoldsTheTagUntilRflush) {
  FakeServer s;
  auto o = opts(s);
  // Long enough that the steps after the first timeout (the Tflush, the queued call, both
  // bounded by the same timeout) finish well inside it on a loaded machine: at 100 ms the
  // queued call timed out in its queue under stress-ng, and the test saw no second call.
  o.rpc_timeout = 1500ms;
  o.max_inflight = 1;  // so any later call would have to reuse the tag if it were free
  auto c = connect(o);
  ASSERT_TRUE(c);
  auto slow = getattr(*c, 7);
  auto m = s.next();
  ASSERT_TRUE(m);
  auto r = slow->f.get();
  EXPECT_EQ(r.errnum(), ETIMEDOUT);
  auto flush = s.next();
  ASSERT_TRUE(flush);
  ASSERT_EQ(flush->type, static_cast<uint8_t>(MsgType::kTflush));
  EXPECT_EQ(decode<msg::Tflush>(flush->body)->oldtag, m->tag);
  EXPECT_NE(flush->tag, m->tag);
  // Until Rflush, the old tag is not reused and the slot is not given away.
  auto next = getattr(*c, 8);
  EXPECT_FALSE(s.next(50ms));
  // A late reply to the flushed call is dropped, not delivered to anyone.
  s.reply(m->tag, attr_with_size(999));
  s.reply(flush->tag, msg::Rflush{});
  auto m2 = s.next();
  ASSERT_TRUE(m2);
  s.reply(m2->tag, attr_with_size(8));
  auto r2 = next->f.get();
  ASSERT_TRUE(r2.ok()) << r2.error().message();
  EXPECT_EQ(r2->size, 8u);
  EXPECT_EQ(c->stats().timeouts.load(), 1u);
  EXPECT_EQ(c->stats().flushes.load(), 1u);
}

TEST(P9Client, CancelFlushesASentCall) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  auto p = getattr(*c, 1);
  auto m = s.next();
  ASSERT_TRUE(m);
  EXPECT_TRUE(c->cancel(p->id));
  EXPECT_EQ(p->f.get().errnum(), ECANCELED);
  EXPECT_FALSE(c->cancel(p->id)) << "completes exactly once";
  auto flush = s.next();
  ASSERT_TRUE(flush);
  EXPECT_EQ(flush->type, static_cast<uint8_t>(MsgType::kTflush));
  s.reply(flush->tag, msg::Rflush{});
}

TEST(P9Client, CancelOfAQueuedCallSendsNothing) {
  FakeServer s;
  auto o = opts(s);
  o.max_inflight = 1;
  auto c = connect(o);
  ASSERT_TRUE(c);
  auto first = getattr(*c, 1);
  auto queued = getattr(*c, 2);  // waits for the one slot
  auto m = s.next();
  ASSERT_TRUE(m);
  EXPECT_TRUE(c->cancel(queued->id));
  EXPECT_EQ(queued->f.get().errnum(), ECANCELED);
  s.reply(m->tag, attr_with_size(1));
  EXPECT_TRUE(first->f.get().ok());
  EXPECT_FALSE(s.next(50ms)) << "neither the cancelled call nor a Tflush was sent";
  EXPECT_EQ(c->stats().flushes.load(), 0u);
}

TEST(P9Client, MalformedRepliesFailOnlyTheirCall) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  // Truncated Rgetattr.
  auto a = getattr(*c, 1);
  auto m = s.next();
  ASSERT_TRUE(m);
  Bytes b = encode(attr_with_size(5)).value();
  b.resize(b.size() - 3);
  b[0] = std::byte(b.size());
  set_message_tag(b, m->tag);
  s.send_raw(b);
  EXPECT_EQ(a->f.get().errnum(), EPROTO);
  // A reply of the wrong type.
  auto w = getattr(*c, 2);
  m = s.next();
  ASSERT_TRUE(m);
  s.reply(m->tag, msg::Rclunk{});
  EXPECT_EQ(w->f.get().errnum(), EPROTO);
  // Rlerror: an errno, or EPROTO when it carries none.
  auto e = getattr(*c, 3);
  m = s.next();
  ASSERT_TRUE(m);
  s.reply(m->tag, msg::Rlerror{ENOENT});
  EXPECT_EQ(e->f.get().errnum(), ENOENT);
  auto z = getattr(*c, 4);
  m = s.next();
  ASSERT_TRUE(m);
  s.reply(m->tag, msg::Rlerror{0});
  EXPECT_EQ(z->f.get().errnum(), EPROTO);
  // The connection is still the first one.
  EXPECT_EQ(s.connections(), 1);
  EXPECT_EQ(c->stats().protocol_errors.load(), 2u);
}

TEST(P9Client, UnparseableStreamDropsTheConnectionAndResends) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  auto a = getattr(*c, 1, Replay::kResend);
  auto m = s.next();
  ASSERT_TRUE(m);
  // A size field beyond msize: the byte stream cannot be trusted past this point.
  Bytes bad = {std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0x7f}, std::byte{0}};
  s.send_raw(bad);
  // The client reconnects and sends the idempotent call again.
  auto again = s.next();
  ASSERT_TRUE(again);
  EXPECT_EQ(fid_of(*again), 1u);
  s.reply(again->tag, attr_with_size(11));
  auto r = a->f.get();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->size, 11u);
  EXPECT_EQ(s.connections(), 2);
  EXPECT_EQ(c->stats().reconnects.load(), 1u);
  EXPECT_EQ(c->stats().resent.load(), 1u);
}

TEST(P9Client, ReplyToAnUnknownTagDropsTheConnection) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  auto a = getattr(*c, 1, Replay::kFail);
  auto m = s.next();
  ASSERT_TRUE(m);
  s.reply(static_cast<uint16_t>(m->tag + 100), attr_with_size(1));
  auto r = a->f.get();
  EXPECT_EQ(r.errnum(), ECONNRESET);
  EXPECT_EQ(r.error().context, kLostInFlight) << "a kFail call learns that it may have happened";
  ASSERT_TRUE(c->test_wait_reconnects(1, 5s));
}

TEST(P9Client, CallsWaitForTheReconnect) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  s.drop();
  // Whether this call meets the old connection or the new one, it is answered once.
  auto a = getattr(*c, 5);
  auto m = s.next();
  ASSERT_TRUE(m);
  s.reply(m->tag, attr_with_size(5));
  EXPECT_TRUE(a->f.get().ok());
}

TEST(P9Client, MsizeShrinkingOnReconnectFailsOversizedCalls) {
  FakeServer s(8192);
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  s.set_version_reply(4096, kVersion9P2000L);
  s.drop();
  ASSERT_TRUE(c->test_wait_reconnects(1, 5s));
  EXPECT_EQ(c->msize(), 4096u);
  EXPECT_EQ(c->max_io(), 4096u - 24);
  // Sized for the old msize: the data path gets a retryable error (the engine re-prepares
  // with the new limit), anything else EMSGSIZE.
  Bytes data(6000);
  std::vector<iovec> seg{{data.data(), data.size()}};
  std::promise<int> p1, p2;
  c->call(encode_twrite_header(1, 0, 6000), seg, MsgType::kRwrite, Replay::kFail,
          [&](Result<Reply> r) { p1.set_value(r.errnum()); });
  c->call(encode_twrite_header(1, 0, 6000), seg, MsgType::kRwrite, Replay::kResend,
          [&](Result<Reply> r) { p2.set_value(r.errnum()); });
  EXPECT_EQ(p1.get_future().get(), ECONNRESET);
  EXPECT_EQ(p2.get_future().get(), EMSGSIZE);
}

TEST(P9Client, DestructionFailsPendingCalls) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  auto a = getattr(*c, 1);
  ASSERT_TRUE(s.next());
  c.reset();
  EXPECT_EQ(a->f.get().errnum(), ESHUTDOWN);
}

// A fid the table knows, as a walk would leave it.
uint32_t make_fid(Client& c, std::string name) {
  uint32_t fid = c.fids().alloc();
  FidInfo fi;
  fi.path = {std::move(name)};
  fi.qid = Qid{0, 0, 42};
  c.fids().set(fid, std::move(fi));
  return fid;
}

TEST(P9Client, ClunkDoesNotWaitAndFreesTheNumberOnlyOnRclunk) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  Namespace ns(*c);
  uint32_t fid = make_fid(*c, "f");
  uint64_t waited = c->stats().sync_rpcs;
  // Returns before the server has even read the Tclunk: the fake answers nothing by itself.
  ASSERT_TRUE(ns.clunk(fid).ok());
  EXPECT_EQ(c->stats().sync_rpcs.load(), waited) << "nobody blocked on the Tclunk";
  EXPECT_FALSE(c->fids().get(fid)) << "forgotten at once: a reconnect must not rebuild it";
  auto m = s.next();
  ASSERT_TRUE(m);
  ASSERT_EQ(m->type, static_cast<uint8_t>(MsgType::kTclunk));
  EXPECT_EQ(decode<msg::Tclunk>(m->body)->fid, fid);
  // Until Rclunk the number must not be handed out again: a Twalk to it could collide
  // with the fid the server still holds.
  uint32_t other = c->fids().alloc();
  EXPECT_NE(other, fid);
  c->fids().release(other);
  // Rclunk, then a getattr answered after it on the same connection: replies are
  // dispatched in stream order, so once the getattr completed the Rclunk was handled.
  s.reply(m->tag, msg::Rclunk{});
  auto a = getattr(*c, 7);
  auto g = s.next();
  ASSERT_TRUE(g);
  s.reply(g->tag, attr_with_size(1));
  ASSERT_TRUE(a->f.get().ok());
  uint32_t again = c->fids().alloc();
  EXPECT_EQ(again, fid) << "the lowest free number is the clunked one again";
}

TEST(P9Client, ClunkLostInFlightFreesItsNumberAndIsNotRebuilt) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  Namespace ns(*c);
  uint32_t fid = make_fid(*c, "f");
  ASSERT_TRUE(ns.clunk(fid).ok());
  auto m = s.next();
  ASSERT_TRUE(m);
  ASSERT_EQ(m->type, static_cast<uint8_t>(MsgType::kTclunk));
  // The connection dies with the Tclunk unanswered. Its session, and the fid with it, are
  // gone. Had the fid stayed in the table, the reconnect would walk it again, and the
  // fake (which answers no Twalk) would keep the reconnect from ever completing.
  s.drop();
  ASSERT_TRUE(c->test_wait_reconnects(1, 5s)) << c->stats().format();
  // connection_lost completes the Tclunk on the I/O thread before that same thread
  // installs the new connection, so the number is back by now.
  uint32_t again = c->fids().alloc();
  EXPECT_EQ(again, fid);
  EXPECT_EQ(c->stats().fids_rebuilt.load(), 0u);
}

TEST(P9Client, ClunkAnsweredWithAnErrorStillFreesTheNumber) {
  FakeServer s;
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  uint32_t fid = make_fid(*c, "f");
  c->release_fid(fid);
  auto m = s.next();
  ASSERT_TRUE(m);
  s.reply(m->tag, msg::Rlerror{EBADF});  // 9P: the fid is gone whatever the reply
  auto a = getattr(*c, 7);
  auto g = s.next();
  ASSERT_TRUE(g);
  s.reply(g->tag, attr_with_size(1));
  ASSERT_TRUE(a->f.get().ok());
  EXPECT_EQ(c->fids().alloc(), fid);
}

TEST(P9Client, UnansweredClunkRetiresItsNumber) {
  FakeServer s;
  auto o = opts(s);
  o.rpc_timeout = 1500ms;  // the Tflush that follows must outlive a loaded machine's delays
  auto c = connect(o);
  ASSERT_TRUE(c);
  uint32_t fid = make_fid(*c, "f");
  c->release_fid(fid);
  auto m = s.next();
  ASSERT_TRUE(m);
  ASSERT_EQ(m->type, static_cast<uint8_t>(MsgType::kTclunk));
  // The client flushes it after the timeout; answer the Tflush only.
  auto f = s.next();
  ASSERT_TRUE(f);
  ASSERT_EQ(f->type, static_cast<uint8_t>(MsgType::kTflush));
  s.reply(f->tag, msg::Rflush{});
  auto a = getattr(*c, 7);
  auto g = s.next();
  ASSERT_TRUE(g);
  s.reply(g->tag, attr_with_size(1));
  ASSERT_TRUE(a->f.get().ok());
  EXPECT_EQ(c->stats().clunks_unanswered.load(), 1u);
  EXPECT_NE(c->fids().alloc(), fid) << "the server may still hold it";
}

// A Twalk that timed out may still have run on the server: its Rwalk can cross our
// Tflush. The fid number must stay out of the pool until a Tclunk settles it; before the
// fix it went straight back, the next walk drew it, collided, gave it back again, and
// every later walk failed until a reconnect.
TEST(P9Namespace, ATimedOutWalkKeepsItsFidNumberUntilATclunkSettlesIt) {
  FakeServer s;
  auto o = opts(s);
  o.rpc_timeout = 1500ms;  // the Tflush that follows must outlive a loaded machine's delays
  auto c = connect(o);
  Namespace ns(*c);
  auto fut = std::async(std::launch::async, [&] { return ns.walk(Namespace::root(), {"f"}); });
  auto w = s.next();
  ASSERT_TRUE(w);
  ASSERT_EQ(w->type, static_cast<uint8_t>(MsgType::kTwalk));
  uint32_t newfid = decode<msg::Twalk>(w->body)->newfid;
  auto f = s.next(2s);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->type, static_cast<uint8_t>(MsgType::kTflush));
  msg::Rwalk rw;  // the server did walk: newfid exists there now
  rw.qids.v.push_back(Qid{0, 0, 99});
  s.reply(w->tag, rw);
  s.reply(f->tag, msg::Rflush{});
  EXPECT_EQ(fut.get().errnum(), ETIMEDOUT);
  // The client settles the number with a Tclunk, which we leave unanswered for now.
  auto cl = s.next(2s);
  ASSERT_TRUE(cl);
  ASSERT_EQ(cl->type, static_cast<uint8_t>(MsgType::kTclunk));
  EXPECT_EQ(decode<msg::Tclunk>(cl->body)->fid, newfid);
  auto fut2 = std::async(std::launch::async, [&] { return ns.walk(Namespace::root(), {"g"}); });
  auto w2 = s.next();
  ASSERT_TRUE(w2);
  EXPECT_NE(decode<msg::Twalk>(w2->body)->newfid, newfid) << "fid reused while the server may hold it";
  s.reply(w2->tag, msg::Rlerror{ENOENT});
  EXPECT_EQ(fut2.get().errnum(), ENOENT);
  s.reply(cl->tag, msg::Rclunk{});
}

}  // namespace
}  // namespace netfs::p9
