// Losing and re-establishing the connection (the essay is in client.h, the invariants
// in client.cc): connection_lost() sorts the calls of a dead connection into "send
// again" and "fail with ECONNRESET"; the reconnect thread connects with backoff and runs
// session setup (fid rebuild) on the new socket; install() hands it to the I/O thread.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <future>
#include <random>

#include "p9/client.h"
#include "p9/client_call.h"

namespace netfs::p9 {

namespace {

// A session lost to a protocol error (garbage, a reply to a tag nobody used), or one that
// answered no call and lasted less than this, counts as a failed attempt, so the backoff
// keeps growing instead of starting over (issue 15: 4877 reconnects in 3 s against a
// server that attaches and then misbehaves). A session that did its work and was then
// cut or lost with its server is good: the first attempt after it goes at once.
constexpr auto kGoodSession = std::chrono::seconds(2);
// Attempts that waiting callers ask for out of the backoff's turn are at least this far
// apart.
constexpr auto kMinAttemptGap = std::chrono::milliseconds(100);

// Equal jitter: a wait drawn from [b/2, b], so that many clients cut off together do not
// come back in step.
std::chrono::milliseconds jittered(std::chrono::milliseconds b, std::minstd_rand& rng) {
  if (b.count() < 2) return b;
  std::uniform_int_distribution<int64_t> d(b.count() / 2, b.count());
  return std::chrono::milliseconds(d(rng));
}

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

void Client::log(const std::string& line) {
  std::optional<uint64_t> pass;
  {
    std::lock_guard lk(mu_);
    pass = log_limit_.allow();
  }
  if (!pass) return;
  if (*pass)
    fprintf(stderr, "netfs: 9P %s: %s (%llu similar messages suppressed)\n", opts_.endpoint.to_string().c_str(),
            line.c_str(), static_cast<unsigned long long>(*pass));
  else
    fprintf(stderr, "netfs: 9P %s: %s\n", opts_.endpoint.to_string().c_str(), line.c_str());
}

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
    up_since_ = Clock::now();
    session_replies_ = 0;
    if (ever_up_) {
      reconnects_++;
      stats_.bump(stats_.reconnects);
      P9_TRACE_CONN(backend_up, 0, static_cast<int64_t>(reconnects_));
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
    last_session_good_ = err != EPROTO && (session_replies_ > 0 || Clock::now() - up_since_ >= kGoodSession);
    // Dropped because the server answered neither a call nor its Tflush: it has been
    // unreachable for a timeout already, and calls fail at once from now on.
    down_since_ = err == ETIMEDOUT ? Clock::time_point{} : Clock::now();
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
    P9_TRACE_CONN(backend_lost, 0, err);
    stats_.bump(err == EPROTO ? stats_.lost_protocol : err == ETIMEDOUT ? stats_.lost_silent : stats_.lost_closed);
    cv_.notify_all();
  }
  log(std::string("connection lost (") + why + ": " + strerror(err) + "); reconnecting");
  complete(fail);
}

// ---------------------------------------------------------------- reconnect

void Client::reconnect_loop() {
  std::minstd_rand rng(std::random_device{}());
  auto backoff = opts_.reconnect_backoff;
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return state_ != State::kUp; });
    if (state_ == State::kClosed) return;
    const uint64_t lost_gen = gen_;
    const auto lost_at = Clock::now();
    // After a good session the first attempt goes at once, with the backoff from the
    // start; a session that failed early was one more failed attempt: wait, and longer.
    bool wait_first = !last_session_good_;
    if (wait_first)
      stats_.bump(stats_.short_sessions);
    else
      backoff = opts_.reconnect_backoff;
    unsigned attempts = 0;
    for (;;) {
      if (wait_first) {
        const auto until = Clock::now() + jittered(backoff, rng);
        for (;;) {
          if (state_ == State::kClosed) return;
          const bool asked = attempt_wanted_ && last_session_good_;
          const auto wake = asked ? std::min(until, last_attempt_end_ + kMinAttemptGap) : until;
          if (Clock::now() >= wake) break;
          cv_.wait_until(lk, wake);
        }
        backoff = std::min(backoff * 2, opts_.reconnect_backoff_max);
      }
      wait_first = true;
      attempt_wanted_ = false;
      attempts_started_++;
      lk.unlock();
      attempts++;
      auto fd = connect_endpoint(opts_.endpoint, opts_.connect_timeout);
      Result<SessionInfo> s = fd.ok() ? setup_session(*fd, session_config(opts_), fids_) : Result<SessionInfo>(fd.error());
      if (s.ok()) {
        stats_.bump(stats_.fids_rebuilt, s->rebuilt);
        stats_.bump(stats_.fids_stale, s->stale);
        if (s->stale) P9_TRACE_CONN(backend_stale, s->stale, 0);
        stats_.bump(stats_.locks_reacquired, s->locks);
        char line[160];
        snprintf(line, sizeof line, "reconnected after %.1f s and %u attempt%s (%zu fids rebuilt, %zu stale)",
                 secs(Clock::now() - lost_at), attempts, attempts == 1 ? "" : "s", s->rebuilt, s->stale);
        log(line);
        asio::post(io_, [this, fd = *fd, ms = s->msize] { install(fd, ms); });
        lk.lock();
        break;
      }
      if (fd.ok()) ::close(*fd);
      {
        // Calls that came before this attempt failed may fail now (Client::sweep).
        std::lock_guard g(mu_);
        attempts_ended_++;
        last_attempt_end_ = Clock::now();
      }
      stats_.bump(stats_.reconnect_failures);
      stats_.bump(fd.ok() ? stats_.setup_failures : stats_.connect_failures);
      log(std::string(fd.ok() ? "session setup failed: " : "connect failed: ") + s.error().message() +
          "; retrying with backoff");
      lk.lock();
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
