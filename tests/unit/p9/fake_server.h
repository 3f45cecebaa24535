// FakeServer: a scripted 9P server on 127.0.0.1 for client unit tests. It answers
// Tversion and Tattach by itself (with a configurable msize and version) and hands every
// other message to the test, which replies when and how it wants: out of order, late,
// malformed, or never. One connection at a time; a new one is accepted when the client
// reconnects.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include <memory>

#include "p9/client.h"
#include "p9/codec.h"
#include "p9/endpoint.h"

namespace netfs::p9::testing {

class FakeServer {
 public:
  struct Msg {
    uint8_t type = 0;
    uint16_t tag = 0;
    Bytes body;
  };

  explicit FakeServer(uint32_t grant_msize = 8192) : grant_msize_(grant_msize) {
    lfd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    bind(lfd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    listen(lfd_, 4);
    getsockname(lfd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeServer() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    shutdown(lfd_, SHUT_RDWR);
    drop();
    thread_.join();
    close(lfd_);
  }

  Endpoint endpoint() const { return Endpoint::tcp("127.0.0.1", port_); }

  // What Rversion says.
  void set_version_reply(uint32_t msize, std::string version) {
    std::lock_guard lk(mu_);
    grant_msize_ = msize;
    version_ = std::move(version);
  }

  // The next message the test must answer, waiting at most `limit`.
  std::optional<Msg> next(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::unique_lock lk(mu_);
    if (!cv_.wait_for(lk, limit, [&] { return !inbox_.empty(); })) return std::nullopt;
    Msg m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }

  template <class R>
  void reply(uint16_t tag, const R& r) {
    Bytes b = encode(r).value();
    set_message_tag(b, tag);
    send_raw(b);
  }
  void send_raw(const Bytes& b) {
    std::lock_guard lk(wmu_);
    if (cfd_ >= 0) (void)::send(cfd_, b.data(), b.size(), MSG_NOSIGNAL);
  }
  // Closes the current connection, as a crash would.
  void drop() {
    std::lock_guard lk(wmu_);
    if (cfd_ >= 0) shutdown(cfd_, SHUT_RDWR);
  }
  int connections() {
    std::lock_guard lk(mu_);
    return connections_;
  }

 private:
  bool read_all(int fd, std::byte* p, size_t n) {
    while (n) {
      ssize_t k = ::recv(fd, p, n, 0);
      if (k <= 0) return false;
      p += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }

  void run() {
    for (;;) {
      int fd = accept(lfd_, nullptr, nullptr);
      if (fd < 0) return;
      {
        std::lock_guard lk(mu_);
        if (stop_) {
          close(fd);
          return;
        }
        connections_++;
      }
      {
        std::lock_guard lk(wmu_);
        cfd_ = fd;
      }
      serve(fd);
      {
        std::lock_guard lk(wmu_);
        cfd_ = -1;
      }
      close(fd);
    }
  }

  void serve(int fd) {
    for (;;) {
      Bytes hdr(4);
      if (!read_all(fd, hdr.data(), 4)) return;
      uint32_t size = WireReader(hdr).u32();
      if (size < kHeaderSize || size > (1u << 24)) return;
      Bytes m(size);
      std::copy(hdr.begin(), hdr.end(), m.begin());
      if (!read_all(fd, m.data() + 4, size - 4)) return;
      auto f = parse_frame(m, 1u << 24);
      if (!f.ok()) return;
      switch (static_cast<MsgType>(f->type)) {
        case MsgType::kTversion: {
          std::lock_guard lk(mu_);
          Bytes b = encode(msg::Rversion{grant_msize_, version_}).value();
          set_message_tag(b, f->tag);
          send_raw(b);
          break;
        }
        case MsgType::kTattach:
          reply(f->tag, msg::Rattach{Qid{qid_type::kDir, 0, 1}});
          break;
        default: {
          std::lock_guard lk(mu_);
          inbox_.push_back(Msg{f->type, f->tag, Bytes(f->body.begin(), f->body.end())});
          cv_.notify_all();
        }
      }
    }
  }

  int lfd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;  // inbox_, version reply, stop_
  std::condition_variable cv_;
  std::deque<Msg> inbox_;
  uint32_t grant_msize_;
  std::string version_ = kVersion9P2000L;
  bool stop_ = false;
  int connections_ = 0;
  std::mutex wmu_;  // cfd_ and writes to it
  int cfd_ = -1;
};

// Client options for a test against s: short connect and reconnect waits, so that tests
// of lost connections run in milliseconds.
inline ClientOptions opts(const FakeServer& s) {
  using namespace std::chrono_literals;
  ClientOptions o;
  o.endpoint = s.endpoint();
  o.aname = "/x";
  o.rpc_timeout = 5000ms;
  o.connect_timeout = 2000ms;
  o.reconnect_backoff = 1ms;
  o.reconnect_backoff_max = 20ms;
  return o;
}

inline std::unique_ptr<Client> connect(const ClientOptions& o) {
  auto c = Client::connect(o);
  EXPECT_TRUE(c.ok()) << c.error().message();
  return c.ok() ? std::move(*c) : nullptr;
}

}  // namespace netfs::p9::testing
