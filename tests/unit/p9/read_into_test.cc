// Client::call_read against a scripted server: Rread data received straight into the
// caller's destination, with the same distrust of replies as any other (a count larger
// than asked for, a count that disagrees with the frame), payloads spread over several
// socket reads, and a call completed (cancel, timeout, lost connection) while its
// payload is still arriving: its destination is not written after the completion and the
// stream stays in step.
#include "p9/client.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "unit/p9/fake_server.h"

namespace netfs::p9 {
namespace {

using testing::FakeServer;
using namespace std::chrono_literals;

constexpr uint32_t kMsize = 65536;
constexpr size_t kHead = 11;  // size[4] type[1] tag[2] count[4]

using testing::connect;
using testing::opts;

struct PendingRead {
  std::promise<Result<size_t>> p;
  std::future<Result<size_t>> f = p.get_future();
  uint64_t id = 0;
};
std::shared_ptr<PendingRead> read_into(Client& c, std::vector<iovec> dest, uint32_t count,
                                       Replay replay = Replay::kResend) {
  auto pend = std::make_shared<PendingRead>();
  pend->id = c.call_read(encode(msg::Tread{1, 0, count}).value(), std::move(dest), replay, [pend](Result<Reply> r) {
    if (!r.ok()) return pend->p.set_value(r.error());
    pend->p.set_value(r->data_len);
  });
  return pend;
}

struct PendingAttr {
  std::promise<Result<uint64_t>> p;
  std::future<Result<uint64_t>> f = p.get_future();
};
std::shared_ptr<PendingAttr> getattr(Client& c) {
  auto pend = std::make_shared<PendingAttr>();
  c.call(encode(msg::Tgetattr{1, getattr_mask::kBasic}).value(), MsgType::kRgetattr, Replay::kResend,
         [pend](Result<Reply> r) {
           auto a = r.ok() ? decode<msg::Rgetattr>(r->body) : Result<msg::Rgetattr>(r.error());
           if (!a.ok()) return pend->p.set_value(a.error());
           pend->p.set_value(a->attr.size);
         });
  return pend;
}
Bytes rgetattr(uint16_t tag, uint64_t size) {
  msg::Rgetattr r;
  r.attr.size = size;
  Bytes b = encode(r).value();
  set_message_tag(b, tag);
  return b;
}

// An Rread's first bytes as a server would send them, with size and count free to lie.
Bytes rread_head(uint16_t tag, uint32_t size, uint32_t count) {
  Bytes b(kHead);
  auto put = [&](size_t at, uint64_t v, int n) {
    for (int i = 0; i < n; i++) b[at + size_t(i)] = std::byte(v >> (8 * i));
  };
  put(0, size, 4);
  b[4] = std::byte(static_cast<uint8_t>(MsgType::kRread));
  put(5, tag, 2);
  put(7, count, 4);
  return b;
}
Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; i++) b[i] = std::byte(uint8_t(seed + i * 7 + (i >> 8)));
  return b;
}
Bytes slice(const Bytes& b, size_t from, size_t n) {
  return Bytes(b.begin() + ptrdiff_t(from), b.begin() + ptrdiff_t(from + n));
}
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Waits (bounded) until the client has read `n` bytes in all from its sockets: the
// scripted server's way of knowing that what it sent so far was consumed by separate
// reads, not coalesced with what it sends next.
bool received(Client& c, uint64_t n) {
  auto until = std::chrono::steady_clock::now() + 5s;
  while (c.stats().bytes_received.load() < n) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return c.stats().bytes_received.load() == n;
}

// A destination inside a larger buffer with guard bytes on both sides, split into
// uneven segments (the engine hands folio segments).
struct Dest {
  static constexpr size_t kGuard = 4096;
  Bytes mem;
  size_t len;
  explicit Dest(size_t n) : mem(n + 2 * kGuard, std::byte{0xAB}), len(n) {}
  std::byte* data() { return mem.data() + kGuard; }
  std::vector<iovec> iov(std::vector<size_t> cuts = {}) {
    std::vector<iovec> v;
    size_t at = 0;
    cuts.push_back(len);
    for (size_t cut : cuts) {
      v.push_back({data() + at, cut - at});
      at = cut;
    }
    return v;
  }
  bool guards_intact() const {
    for (size_t i = 0; i < kGuard; i++)
      if (mem[i] != std::byte{0xAB} || mem[mem.size() - 1 - i] != std::byte{0xAB}) return false;
    return true;
  }
  bool all(std::byte v, size_t from = 0) {
    for (size_t i = from; i < len; i++)
      if (data()[i] != v) return false;
    return true;
  }
  bool equals(const Bytes& b) { return std::equal(b.begin(), b.end(), data()); }
};

TEST(P9ReadInto, PayloadOverSeveralSocketReadsLandsInPlace) {
  FakeServer s(kMsize);
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  constexpr uint32_t n = 30000;
  Dest d(n);
  auto r = read_into(*c, d.iov({1, 4096, 20000}), n);
  auto m = s.next();
  ASSERT_TRUE(m);
  ASSERT_EQ(m->type, static_cast<uint8_t>(MsgType::kTread));
  Bytes data = pattern(n, 3);
  uint64_t base = c->stats().bytes_received;
  // The head and a little data, then two more pieces, each consumed before the next is
  // sent; the last arrives together with the next reply (the client's look-ahead).
  s.send_raw(cat(rread_head(m->tag, kHead + n, n), slice(data, 0, 100)));
  ASSERT_TRUE(received(*c, base + kHead + 100));
  s.send_raw(slice(data, 100, 10000));
  ASSERT_TRUE(received(*c, base + kHead + 10100));
  auto a = getattr(*c);
  auto g = s.next();
  ASSERT_TRUE(g);
  s.send_raw(cat(slice(data, 10100, n - 10100), rgetattr(g->tag, 77)));
  auto got = r->f.get();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, n);
  EXPECT_TRUE(d.equals(data));
  EXPECT_TRUE(d.guards_intact());
  auto at = a->f.get();
  ASSERT_TRUE(at.ok()) << at.error().message();
  EXPECT_EQ(*at, 77u) << "the reply behind the payload was parsed from the look-ahead";
  EXPECT_EQ(c->stats().reads_direct.load(), 1u) << c->stats().format();
  EXPECT_EQ(c->stats().reads_copied.load(), 0u);
}

TEST(P9ReadInto, ShortReadFillsOnlyTheCount) {
  FakeServer s(kMsize);
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  constexpr uint32_t asked = 40000, sent = 12000;
  Dest d(asked);
  auto r = read_into(*c, d.iov({5000}), asked);
  auto m = s.next();
  ASSERT_TRUE(m);
  Bytes data = pattern(sent, 9);
  uint64_t base = c->stats().bytes_received;
  s.send_raw(rread_head(m->tag, kHead + sent, sent));
  ASSERT_TRUE(received(*c, base + kHead));
  s.send_raw(data);
  auto got = r->f.get();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, sent);
  EXPECT_TRUE(d.equals(data));
  EXPECT_TRUE(d.all(std::byte{0xAB}, sent)) << "nothing written past the count";
  EXPECT_TRUE(d.guards_intact());
  EXPECT_EQ(c->stats().reads_direct.load(), 1u) << c->stats().format();
}

TEST(P9ReadInto, RepliesInOneSegmentAreCopiedAndOutOfOrderRepliesFindTheirCalls) {
  FakeServer s(kMsize);
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  constexpr uint32_t n = 20000;
  std::vector<std::unique_ptr<Dest>> ds;
  std::vector<std::shared_ptr<PendingRead>> rs;
  std::vector<FakeServer::Msg> ms;
  for (int i = 0; i < 4; i++) {
    ds.push_back(std::make_unique<Dest>(n));
    rs.push_back(read_into(*c, ds.back()->iov({777}), n));
  }
  for (int i = 0; i < 4; i++) {
    auto m = s.next();
    ASSERT_TRUE(m);
    ms.push_back(*m);
  }
  // All four in one send, in reverse order: whichever way the client's reads cut the
  // stream (whole frames copied, a partial one received directly), each lands right.
  Bytes all;
  for (int i = 3; i >= 0; i--)
    all = cat(cat(std::move(all), rread_head(ms[size_t(i)].tag, kHead + n, n)), pattern(n, uint8_t(i)));
  s.send_raw(all);
  for (size_t i = 0; i < 4; i++) {
    auto got = rs[i]->f.get();
    ASSERT_TRUE(got.ok()) << got.error().message();
    EXPECT_EQ(*got, n);
    EXPECT_TRUE(ds[i]->equals(pattern(n, uint8_t(i)))) << i;
    EXPECT_TRUE(ds[i]->guards_intact());
  }
  EXPECT_EQ(c->stats().reads_direct.load() + c->stats().reads_copied.load(), 4u);
}

// A count above what was asked for (so above the destination), with the frame consistent
// with it: the call fails, nothing is written anywhere, and the stream goes on.
TEST(P9ReadInto, LyingCountIsRefusedAndWritesNothing) {
  FakeServer s(kMsize);
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  for (uint32_t asked : {1000u, 10000u}) {  // whole in one read, and large enough to go direct
    SCOPED_TRACE(asked);
    Dest d(asked);
    auto r = read_into(*c, d.iov({asked / 3}), asked);
    auto m = s.next();
    ASSERT_TRUE(m);
    const uint32_t lie = asked * 2;
    uint64_t base = c->stats().bytes_received;
    s.send_raw(rread_head(m->tag, kHead + lie, lie));
    ASSERT_TRUE(received(*c, base + kHead));
    Bytes data = pattern(lie, 1);
    s.send_raw(slice(data, 0, lie / 2));
    s.send_raw(slice(data, lie / 2, lie - lie / 2));
    EXPECT_EQ(r->f.get().errnum(), EPROTO);
    EXPECT_TRUE(d.all(std::byte{0xAB})) << "not a byte of a refused reply lands";
    EXPECT_TRUE(d.guards_intact());
  }
  auto a = getattr(*c);
  auto g = s.next();
  ASSERT_TRUE(g);
  s.send_raw(rgetattr(g->tag, 5));
  EXPECT_TRUE(a->f.get().ok());
  EXPECT_EQ(s.connections(), 1) << "a malformed reply fails its call, not the connection";
  EXPECT_EQ(c->stats().reads_direct.load(), 0u);
  EXPECT_EQ(c->stats().protocol_errors.load(), 2u);
}

// A count that disagrees with the frame's size, either way.
TEST(P9ReadInto, CountDisagreeingWithTheFrameIsRefused) {
  FakeServer s(kMsize);
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  constexpr uint32_t asked = 30000;
  struct Case {
    uint32_t size, count;
  };
  for (Case k : {Case{kHead + 20000, 9000}, Case{kHead + 9000, 20000}}) {
    SCOPED_TRACE(k.count);
    Dest d(asked);
    auto r = read_into(*c, d.iov(), asked);
    auto m = s.next();
    ASSERT_TRUE(m);
    uint64_t base = c->stats().bytes_received;
    s.send_raw(rread_head(m->tag, k.size, k.count));
    ASSERT_TRUE(received(*c, base + kHead));
    s.send_raw(pattern(k.size - kHead, 2));
    EXPECT_EQ(r->f.get().errnum(), EPROTO);
    EXPECT_TRUE(d.all(std::byte{0xAB}));
    EXPECT_TRUE(d.guards_intact());
  }
  auto a = getattr(*c);
  auto g = s.next();
  ASSERT_TRUE(g);
  s.send_raw(rgetattr(g->tag, 5));
  EXPECT_TRUE(a->f.get().ok()) << "the stream stayed in step: frames end where size says";
  EXPECT_EQ(s.connections(), 1);
}

// The call completes while its payload is half received: by cancel, by timeout. From its
// completion on, its destination is the caller's again (here: overwritten and checked;
// the engine would free it); the rest of the payload is consumed and dropped, the tag is
// held until Rflush, and the connection goes on.
class P9ReadIntoEarly : public ::testing::TestWithParam<bool> {};

TEST_P(P9ReadIntoEarly, CompletionDuringPayloadReleasesTheDestination) {
  const bool by_timeout = GetParam();
  FakeServer s(kMsize);
  auto o = opts(s);
  if (by_timeout) o.rpc_timeout = 500ms;
  auto c = connect(o);
  ASSERT_TRUE(c);
  constexpr uint32_t n = 50000;
  Dest d(n);
  auto r = read_into(*c, d.iov({4096, 8192}), n);
  auto m = s.next();
  ASSERT_TRUE(m);
  Bytes data = pattern(n, 5);
  uint64_t base = c->stats().bytes_received;
  s.send_raw(cat(rread_head(m->tag, kHead + n, n), slice(data, 0, 3000)));
  // Read by the client, which is now receiving the rest into the destination.
  ASSERT_TRUE(received(*c, base + kHead + 3000));
  if (!by_timeout) {
    EXPECT_TRUE(c->cancel(r->id));
  }
  EXPECT_EQ(r->f.get().errnum(), by_timeout ? ETIMEDOUT : ECANCELED);
  std::fill(d.data(), d.data() + n, std::byte{0xEE});
  auto flush = s.next();
  ASSERT_TRUE(flush);
  ASSERT_EQ(flush->type, static_cast<uint8_t>(MsgType::kTflush));
  // The server had answered before it saw the Tflush: the rest of the Rread, in two
  // reads, then the Rflush.
  s.send_raw(slice(data, 3000, 20000));
  ASSERT_TRUE(received(*c, base + kHead + 23000));
  s.send_raw(slice(data, 23000, n - 23000));
  ASSERT_TRUE(received(*c, base + kHead + n));
  EXPECT_TRUE(d.all(std::byte{0xEE})) << "written after its call completed";
  EXPECT_TRUE(d.guards_intact());
  s.reply(flush->tag, msg::Rflush{});
  auto a = getattr(*c);
  auto g = s.next();
  ASSERT_TRUE(g);
  s.send_raw(rgetattr(g->tag, 9));
  auto at = a->f.get();
  ASSERT_TRUE(at.ok()) << at.error().message();
  EXPECT_EQ(*at, 9u);
  EXPECT_EQ(s.connections(), 1);
  EXPECT_EQ(c->stats().read_bytes_discarded.load(), n - 3000u);
  EXPECT_EQ(c->stats().reads_direct.load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(CancelOrTimeout, P9ReadIntoEarly, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Timeout" : "Cancel"; });

TEST(P9ReadInto, ConnectionLostDuringPayloadFailsTheCallAndRecovers) {
  FakeServer s(kMsize);
  auto c = connect(opts(s));
  ASSERT_TRUE(c);
  constexpr uint32_t n = 40000;
  Dest d(n);
  auto r = read_into(*c, d.iov(), n, Replay::kFail);
  auto m = s.next();
  ASSERT_TRUE(m);
  uint64_t base = c->stats().bytes_received;
  s.send_raw(cat(rread_head(m->tag, kHead + n, n), pattern(1000, 0)));
  ASSERT_TRUE(received(*c, base + kHead + 1000));
  s.drop();
  auto got = r->f.get();
  EXPECT_EQ(got.errnum(), ECONNRESET);
  EXPECT_EQ(got.error().context, kLostInFlight);
  ASSERT_TRUE(c->test_wait_reconnects(1, 5s));
  // The new connection starts clean: a whole read goes through.
  Dest d2(n);
  auto r2 = read_into(*c, d2.iov(), n);
  auto m2 = s.next();
  ASSERT_TRUE(m2);
  Bytes data = pattern(n, 4);
  s.send_raw(cat(rread_head(m2->tag, kHead + n, n), data));
  auto got2 = r2->f.get();
  ASSERT_TRUE(got2.ok()) << got2.error().message();
  EXPECT_EQ(*got2, n);
  EXPECT_TRUE(d2.equals(data));
}

}  // namespace
}  // namespace netfs::p9
