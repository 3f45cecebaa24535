// Losing and re-establishing the connection (the essay is in client.h, the invariants
// in client.cc): connection_lost() sorts the calls of a dead connection into "send
// again" and "fail with ECONNRESET"; the reconnect thread connects with backoff and runs
// session setup (fid rebuild) on the new socket; install() hands it to the I/O thread.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <future>

#include "p9/client.h"
#include "p9/client_call.h"

namespace netfs::p9 {

void Client::install(int fd, uint32_t msize) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int family = getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 ? ss.ss_family : AF_INET;
  asio::generic::stream_protocol proto(family, family == AF_UNIX ? 0 : IPPROTO_TCP);
  auto s = std::make_unique<asio::generic::stream_protocol::socket>(io_);
  asio::error_code ec;
  s->assign(proto, fd, ec);
  // Direct reads (client.cc, begin_direct) call read_some and must get EAGAIN, not block.
  if (!ec) s->non_blocking(true, ec);
  uint64_t g;
  {
    std::lock_guard lk(mu_);
    gen_++;
    if (ec || state_ == State::kClosed) {
      ::close(fd);
      cv_.notify_all();  // the reconnect thread tries again (or stops)
      return;
    }
    if (sock_) {
      asio::error_code ignored;
      sock_->close(ignored);
    }
    sock_ = std::move(s);
    rbuf_.resize(std::max<size_t>(2 * size_t(msize), 256 * 1024));
    rlen_ = 0;
    rx_ = Direct{};
    msize_.store(msize, std::memory_order_release);
    state_ = State::kUp;
    writing_ = false;
    if (ever_up_) {
      reconnects_++;
      stats_.bump(stats_.reconnects);
      if (opts_.engine_stats) opts_.engine_stats->client_reconnects.fetch_add(1, std::memory_order_relaxed);
    }
    ever_up_ = true;
    g = gen_;
    cv_.notify_all();
    pump_locked();
  }
  start_read(g);
}

void Client::connection_lost(uint64_t g, int err, const char* why) {
  std::vector<Failure> fail;
  {
    std::lock_guard lk(mu_);
    if (g != gen_ || state_ != State::kUp) return;
    state_ = State::kDown;
    gen_++;
    writing_ = false;
    asio::error_code ignored;
    sock_->close(ignored);
    rlen_ = 0;
    rx_ = Direct{};  // a payload being received directly: its call is sorted below
    std::vector<CallPtr> again;
    for (auto& c : by_tag_) {
      if (!c) continue;
      CallPtr call = std::move(c);
      c.reset();
      if (call->is_flush || call->abandoned) continue;
      if (call->st == Call::St::kQueued || call->replay == Replay::kResend) {
        if (call->st != Call::St::kQueued) stats_.bump(stats_.resent);
        call->st = Call::St::kWaiting;
        again.push_back(std::move(call));
      } else {
        call->finished = true;
        stats_.bump(stats_.failed_on_disconnect);
        fail.push_back({std::move(call), make_error(ECONNRESET, kLostInFlight)});
      }
    }
    free_tags_.clear();
    for (size_t t = by_tag_.size(); t-- > 0;) free_tags_.push_back(static_cast<uint16_t>(t));
    inflight_ = 0;
    reads_tagged_.store(0, std::memory_order_relaxed);
    sendq_.clear();
    // Older calls first, ahead of the ones that never got a tag.
    std::sort(again.begin(), again.end(), [](const CallPtr& a, const CallPtr& b) { return a->id < b->id; });
    waiting_.insert(waiting_.begin(), again.begin(), again.end());
    stats_.bump(stats_.disconnects);
    cv_.notify_all();
  }
  (void)err;
  (void)why;  // the reconnect thread's attempts say the rest; kept for a trace event
  complete(fail);
}

// ---------------------------------------------------------------- reconnect

void Client::reconnect_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return state_ != State::kUp; });
    if (state_ == State::kClosed) return;
    const uint64_t lost_gen = gen_;
    auto backoff = opts_.reconnect_backoff;
    for (;;) {
      lk.unlock();
      auto fd = connect_endpoint(opts_.endpoint, opts_.connect_timeout);
      Result<SessionInfo> s = fd.ok() ? setup_session(*fd, session_config(opts_), fids_) : Result<SessionInfo>(fd.error());
      if (s.ok()) {
        stats_.bump(stats_.fids_rebuilt, s->rebuilt);
        stats_.bump(stats_.fids_stale, s->stale);
        stats_.bump(stats_.locks_reacquired, s->locks);
        asio::post(io_, [this, fd = *fd, ms = s->msize] { install(fd, ms); });
        lk.lock();
        break;
      }
      if (fd.ok()) ::close(*fd);
      stats_.bump(stats_.reconnect_failures);
      lk.lock();
      if (cv_.wait_for(lk, backoff, [&] { return state_ == State::kClosed; })) return;
      backoff = std::min(backoff * 2, opts_.reconnect_backoff_max);
    }
    // install() bumps gen_ whether or not it could adopt the socket.
    cv_.wait(lk, [&] { return gen_ != lost_gen || state_ == State::kClosed; });
  }
}

// ---------------------------------------------------------------- test hooks

void Client::test_drop_connection() {
  asio::post(io_, [this] {
    uint64_t g;
    {
      std::lock_guard lk(mu_);
      g = gen_;
    }
    connection_lost(g, ECONNRESET, "test_drop_connection");
  });
}

bool Client::test_wait_reconnects(uint64_t n, std::chrono::milliseconds limit) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, limit, [&] { return reconnects_ >= n && state_ == State::kUp; });
}

void Client::test_on_reply(std::function<void(uint64_t)> fn) {
  std::promise<void> set;
  asio::post(io_, [this, &fn, &set] {
    test_on_reply_ = std::move(fn);
    set.set_value();
  });
  set.get_future().wait();
}

}  // namespace netfs::p9
