// Reconnect backoff against a misbehaving server (issue 15, finding 6): a server that
// answers Tversion and Tattach properly and then sends garbage or a reply to a tag nobody
// used made the client reconnect 4877 times in about 3 s. Sessions that fail before they
// proved good must keep the backoff growing (with jitter, up to its cap).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "p9/client.h"
#include "p9/codec.h"

namespace netfs::p9 {
namespace {

using namespace std::chrono_literals;

// Accepts connections on 127.0.0.1, answers Tversion and Tattach, then misbehaves: odd
// connections get bytes that are no 9P frame, even ones a well-formed reply to a tag the
// client never used. It keeps reading what the client sends until the client hangs up.
class GarbageServer {
 public:
  GarbageServer() {
    lfd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    EXPECT_EQ(bind(lfd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(listen(lfd_, 16), 0);
    getsockname(lfd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~GarbageServer() {
    stop_ = true;
    shutdown(lfd_, SHUT_RDWR);
    thread_.join();
    close(lfd_);
  }
  Endpoint endpoint() const { return Endpoint::tcp("127.0.0.1", port_); }
  int accepted() const { return accepted_.load(); }

 private:
  static bool read_frame(int fd, Bytes& m) {
    m.assign(4, std::byte{0});
    if (recv(fd, m.data(), 4, MSG_WAITALL) != 4) return false;
    uint32_t size = WireReader(m).u32();
    if (size < kHeaderSize || size > (1u << 20)) return false;
    m.resize(size);
    return recv(fd, m.data() + 4, size - 4, MSG_WAITALL) == ssize_t(size - 4);
  }
  static void send_all(int fd, const Bytes& b) { (void)send(fd, b.data(), b.size(), MSG_NOSIGNAL); }

  void run() {
    for (;;) {
      int fd = accept(lfd_, nullptr, nullptr);
      if (fd < 0 || stop_) {
        if (fd >= 0) close(fd);
        return;
      }
      int n = ++accepted_;
      serve(fd, n);
      close(fd);
    }
  }

  void serve(int fd, int n) {
    Bytes m;
    for (int i = 0; i < 2; i++) {  // Tversion, then Tattach
      if (!read_frame(fd, m)) return;
      auto f = parse_frame(m, 1u << 20);
      if (!f.ok()) return;
      Bytes r = f->type == static_cast<uint8_t>(MsgType::kTversion)
                    ? encode(msg::Rversion{8192, kVersion9P2000L}).value()
                    : encode(msg::Rattach{Qid{qid_type::kDir, 0, 1}}).value();
      set_message_tag(r, f->tag);
      send_all(fd, r);
    }
    if (n % 2) {
      send_all(fd, Bytes(64, std::byte{0xff}));  // a size field of 4 GiB: no frame
    } else {
      Bytes r = encode(msg::Rclunk{}).value();
      set_message_tag(r, 777);  // no call holds this tag
      send_all(fd, r);
    }
    while (read_frame(fd, m)) {
    }
  }

  int lfd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// Runs for 10 s, as the issue measures it: with the defaults (10 ms doubling to 5 s, each
// wait drawn from its upper half) at most 11 reconnects fit in 10 s; without the backoff
// across failing sessions it was thousands.
TEST(P9ReconnectBackoff, AServerThatMisbehavesAfterAttachGetsFewerThan15ReconnectsIn10s) {
  GarbageServer s;
  ClientOptions o;  // the production backoff
  o.endpoint = s.endpoint();
  o.aname = "/x";
  o.rpc_timeout = 30s;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok()) << c.error().message();
  std::this_thread::sleep_for(10s);  // the measurement window itself, not a synchronisation
  ClientStats& st = (*c)->stats();
  EXPECT_LT(st.reconnects.load(), 15u) << st.format();
  EXPECT_LT(s.accepted(), 16) << st.format();
  // It did keep trying, and each failure was told apart.
  EXPECT_GE(st.reconnects.load(), 3u) << st.format();
  EXPECT_GE(st.lost_protocol.load(), 3u) << st.format();
  EXPECT_GE(st.short_sessions.load(), 3u) << st.format();
  EXPECT_EQ(st.lost_protocol.load(), st.disconnects.load()) << st.format();
}

}  // namespace
}  // namespace netfs::p9
