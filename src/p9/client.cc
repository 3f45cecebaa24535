// The asynchronous 9P client. The essay is in client.h; these are the invariants the
// code keeps, each referred to by number where it matters.
//
//  1. A call is in exactly one place: waiting_ (no tag), or by_tag_[tag] (queued in
//     sendq_, or sent). `finished` is set, under mu_, by whoever takes the duty to run its
//     completion, so the completion runs exactly once.
//  2. A tag is free only when no reply to it can still arrive: a sent call's tag is freed
//     by its reply, an abandoned (timed-out or cancelled) call's tag only by the Rflush
//     that answers our Tflush, and every tag when the connection is dropped.
//  3. Only the I/O thread touches the socket and the receive buffer; every connection
//     change bumps gen_, and an I/O handler whose generation is old does nothing.
//  4. Completions run without mu_ held.
//  5. Flush calls draw tags from the part of the pool beyond max_inflight, so a Tflush
//     can always be sent, however many calls are stuck.
//  6. A call's borrowed payload (zero-copy Twrite data) is read only while the call is
//     kWriting. A call is never completed while kWriting with a payload: a timeout or
//     cancel then drops the connection instead, and closing the socket ends every read of
//     the payload before the completion runs.
//  7. A call_read's destination is written only on the I/O thread and only before its
//     completion runs: by a socket read or copy while the call is not finished (checked
//     under mu_ just before), or by dispatch, which finished the call itself and runs
//     its completion after the copy. Such a call completes only on the I/O thread
//     between socket reads, or (the destructor) after the I/O thread closed the socket.
//     Once it is finished, the rest of its payload is read into rbuf_ and dropped. A
//     destination is never written past the count that passed the checks (count <=
//     dest_len, size == 11 + count <= msize).
#include "p9/client.h"
#include "netfs/cancel.h"
#include "p9/client_call.h"
#include "p9/lanes.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <future>
#include <optional>

namespace netfs::p9 {

const char kLostInFlight[] = "9P: connection lost while the call was in flight";
const char kUnreachable[] = "9P: server unreachable";

namespace {

// Bytes handed to one gathered write: enough to fill the socket buffer, small enough that
// replies are read between batches.
constexpr size_t kMaxWriteBatch = 1u << 20;

// size[4] type[1] tag[2] count[4]: the bytes of an Rread before its data.
constexpr size_t kRreadHead = kHeaderSize + 4;
// An Rread's data is read straight into its destination only when at least this much of
// it is still in the socket: below it, a copy costs less than giving up the batching of
// the replies behind it (a direct read ends 11 bytes into the next reply).
constexpr size_t kDirectMin = 8192;

// Calls fn(p, k) for each piece of dest's bytes [off, off + n), at most `max` pieces;
// returns the bytes they cover (the caller checked the bounds).
template <class F>
size_t for_each_piece(const std::vector<iovec>& dest, size_t off, size_t n, size_t max, F&& fn) {
  size_t covered = 0;
  for (const iovec& v : dest) {
    if (!n || !max) break;
    if (off >= v.iov_len) {
      off -= v.iov_len;
      continue;
    }
    size_t k = std::min(n, v.iov_len - off);
    fn(static_cast<std::byte*>(v.iov_base) + off, k);
    n -= k;
    covered += k;
    off = 0;
    max--;
  }
  return covered;
}

// Copies n bytes to `dest` starting `off` bytes into it (the caller checked the bounds).
void copy_to(const std::vector<iovec>& dest, size_t off, const std::byte* src, size_t n) {
  for_each_piece(dest, off, n, SIZE_MAX, [&](std::byte* p, size_t k) {
    std::memcpy(p, src, k);
    src += k;
  });
}

// Asio hands at most this many buffers to one socket read (and ignores the rest).
constexpr size_t kMaxReadBuffers = 64;

// Appends the buffers of dest's bytes [off, off + n), at most `max` of them, to out;
// returns the bytes they cover.
size_t slice(const std::vector<iovec>& dest, size_t off, size_t n, size_t max,
             std::vector<asio::mutable_buffer>& out) {
  return for_each_piece(dest, off, n, max, [&](std::byte* p, size_t k) { out.push_back(asio::buffer(p, k)); });
}

size_t tag_pool_size(size_t max_inflight) {
  // Invariant 5: one flush tag per ordinary tag. kNoTag (0xFFFF) is never handed out.
  return std::min<size_t>(2 * std::max<size_t>(max_inflight, 1), kNoTag);
}

}  // namespace

Client::Client(ClientOptions options)
    : opts_(std::move(options)), work_(asio::make_work_guard(io_)), sweep_timer_(io_) {
  size_t pool = tag_pool_size(opts_.max_inflight);
  by_tag_.resize(pool);
  for (size_t t = pool; t-- > 0;) free_tags_.push_back(static_cast<uint16_t>(t));
}

Result<std::unique_ptr<Client>> Client::connect(ClientOptions options) {
  if (options.connections < 1 || options.connections > kMaxConnections)
    return make_error(EINVAL, "9P: connections must be from 1 to 16");
  std::unique_ptr<Client> c(new Client(std::move(options)));
  auto fd = connect_endpoint(c->opts_.endpoint, c->opts_.connect_timeout);
  if (!fd.ok()) return fd.error();
  auto s = setup_session(*fd, session_config(c->opts_), c->fids_);
  if (!s.ok()) {
    ::close(*fd);
    return s.error();
  }
  // No other thread runs yet: install directly, then start the threads.
  c->install(*fd, s->msize);
  if (!c->connected()) return make_error(EIO, "9P: could not adopt the connected socket");
  Client* self = c.get();
  // The lanes before this client's threads: lanes_ is then written before any thread
  // that may read it exists (the lifetime rule of lanes(), client.h), and never again.
  if (self->opts_.connections > 1) {
    auto l = Lanes::connect(self->opts_, self->fids_, self->opts_.connections - 1);
    if (!l.ok()) return l.error();
    self->lanes_ = std::move(*l);
  }
  self->arm_sweep();
  self->io_thread_ = std::thread([self] { self->io_.run(); });
  self->reconnect_thread_ = std::thread([self] { self->reconnect_loop(); });
  return c;
}

Client::~Client() { close(); }

void Client::collect(Metrics& m) const {
  m.push_back({"p9", "msize", true, "negotiated 9P message size", msize()});
  // Not yet answered, so not yet in p9.rpcs.
  m.push_back({"p9", "calls_pending", true, "9P calls sent and not yet answered", calls_pending()});
  stats_.collect(m);
}

void Client::close() {
  // The lanes first: nothing of theirs refers to this client, but their data calls must
  // fail (ESHUTDOWN) while the engine is still there, like this client's own. Closed,
  // not destroyed: lanes() hands out the pointer without a lock, and completions (this
  // client's, the lanes', the engine's retries) may still route through it until this
  // client's I/O thread has joined; closed lanes fail those calls with ESHUTDOWN.
  if (lanes_) lanes_->close();
  std::vector<Failure> fail;
  {
    std::lock_guard lk(mu_);
    state_ = State::kClosed;
    gen_++;
    auto shut = make_error(ESHUTDOWN, "9P: client closed");
    for (auto& c : waiting_) {
      c->finished = true;
      fail.push_back({c, shut});
    }
    waiting_.clear();
    for (auto& c : by_tag_) {
      if (c && !c->finished && !c->is_flush) {
        c->finished = true;
        fail.push_back({c, shut});
      }
      c.reset();
    }
    sendq_.clear();
    cv_.notify_all();
  }
  if (reconnect_thread_.joinable()) reconnect_thread_.join();
  if (io_thread_.joinable()) {
    // Invariant 6: close the socket (ending every read of borrowed payloads) before any
    // completion runs.
    std::promise<void> closed;
    asio::post(io_, [this, &closed] {
      asio::error_code ec;
      if (sock_) sock_->close(ec);
      sweep_timer_.cancel();
      closed.set_value();
    });
    closed.get_future().wait();
  }
  complete(fail);
  work_.reset();
  if (io_thread_.joinable()) io_thread_.join();
}

bool Client::connected() const {
  std::lock_guard lk(mu_);
  return state_ == State::kUp;
}

bool Client::unreachable() const {
  std::lock_guard lk(mu_);
  return unreachable_locked(Clock::now());
}

bool Client::unreachable_locked(Clock::time_point now) const {
  return state_ == State::kDown && ever_up_ && now - down_since_ >= opts_.rpc_timeout;
}

// ---------------------------------------------------------------- submitting

uint64_t Client::call(Bytes msg, MsgType expect, Replay replay, Completion done) {
  return call(std::move(msg), {}, expect, replay, std::move(done));
}

uint64_t Client::call(Bytes header, std::vector<iovec> payload, MsgType expect, Replay replay, Completion done) {
  auto c = std::make_shared<Call>();
  c->msg = std::move(header);
  c->size = c->msg.size();
  for (const iovec& v : payload) c->size += v.iov_len;
  c->payload = std::move(payload);
  c->expect = static_cast<uint8_t>(expect);
  c->replay = replay;
  c->done = std::move(done);
  return submit(std::move(c));
}

uint64_t Client::submit(CallPtr c) {
  c->deadline = Clock::now() + opts_.rpc_timeout;
  pending_.fetch_add(1, std::memory_order_relaxed);
  c->done = [this, done = std::move(c->done)](Result<Reply> r) {
    done(std::move(r));
    pending_.fetch_sub(1, std::memory_order_release);
  };
  std::vector<Failure> fail;
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    id = c->id = next_id_++;
    if (state_ == State::kClosed || c->msg.size() < kHeaderSize) {
      c->finished = true;
      fail.push_back({c, state_ == State::kClosed ? make_error(ESHUTDOWN, "9P: client closed")
                                                  : make_error(EINVAL, "9P: not a message")});
    } else if (unreachable_locked(Clock::now()) && !last_session_good_) {
      // A server that attached and then misbehaved: no attempt out of turn for it (the
      // backoff stands). Failed on the I/O thread, not here: a completion that calls
      // call() must not find its new call's completion running inside it.
      c->finished = true;
      stats_.bump(stats_.unreachable_fails);
      asio::post(io_, [c] { c->done(make_error(ETIMEDOUT, kUnreachable)); });
    } else {
      // While the server is unreachable, the call waits for the end of one more attempt
      // (asked for now, out of the backoff's turn): the server may be back, and the
      // caller should not be told otherwise because the backoff said "later".
      c->attempts_seen = attempts_started_;  // fails when an attempt begun after it failed
      if (state_ == State::kDown && !attempt_wanted_) {
        attempt_wanted_ = true;
        cv_.notify_all();
      }
      waiting_.push_back(std::move(c));
      pump_locked();
    }
  }
  complete(fail);
  return id;
}

uint64_t Client::call_read(Bytes msg, std::vector<iovec> dest, Replay replay, Completion done) {
  auto c = std::make_shared<Call>();
  c->msg = std::move(msg);
  c->size = c->msg.size();
  c->into = true;
  for (const iovec& v : dest) c->dest_len += v.iov_len;
  c->dest = std::move(dest);
  c->expect = static_cast<uint8_t>(MsgType::kRread);
  c->replay = replay;
  c->done = std::move(done);
  return submit(std::move(c));
}

Result<Bytes> Client::call_sync(Bytes msg, MsgType expect, Replay replay) {
  stats_.bump(stats_.sync_rpcs);
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<Bytes>> r;
  } w;
  uint64_t id = call(std::move(msg), expect, replay, [&w](Result<Reply> r) {
    std::lock_guard lk(w.mu);  // notified under the lock: w lives on the waiter's stack
    if (r.ok())
      w.r.emplace(Bytes(r->body.begin(), r->body.end()));
    else
      w.r.emplace(r.error());
    w.cv.notify_all();
  });
  // The caller got a signal (its Cancel, include/netfs/cancel.h): an idempotent call is
  // given up as a timed-out one is, with ECANCELED, which callers already read as "may
  // have run" (a walk's fid is settled by a Tclunk). A kFail call (a namespace change) is
  // waited out: its caller resolves a lost one by looking at the server, and a signal
  // must not leave a create or a rename half known.
  Cancel* cancel_by = replay == Replay::kResend ? Cancel::current() : nullptr;
  std::unique_lock lk(w.mu);
  if (!wait_cancellable(cancel_by, w.cv, lk, [&] { return w.r.has_value(); })) {
    lk.unlock();
    cancel(id);
    lk.lock();
    w.cv.wait(lk, [&] { return w.r.has_value(); });  // the completion still refers to w
  }
  return std::move(*w.r);
}

void Client::release_fid(uint32_t fid) {
  if (fid == FidTable::kRootFid || fid == kNoFid) return;
  // Out of the table first: a reconnect from now on does not rebuild it (the snapshot of
  // a reconnect already under way may still hold it; then the Tclunk, which waits for
  // that session, clunks the rebuilt fid).
  fids_.erase(fid);
  // No lock: lanes_ outlives every completion of this client (the rule of lanes()); once
  // closed, forget's Tclunks on the lanes fail at once with ESHUTDOWN, freeing numbers.
  if (lanes_) lanes_->forget(fid);
  auto m = encode(msg::Tclunk{fid});
  // kFail: a Tclunk lost in flight died with its session, and so did the fid (a session's
  // fids end with it), so ECONNRESET means "gone" as surely as Rclunk does.
  call(std::move(*m), MsgType::kRclunk, Replay::kFail, [this, fid](Result<Reply> r) {
    // Rclunk, or Rlerror (9P frees the fid on Tclunk whatever the reply), or the session
    // ended: no fid by this number exists on the server any more.
    if (!may_have_run(r.errnum())) return fids_.release(fid);
    // Timed out and flushed: the server may still hold it. Reusing the number could
    // collide with it, so the number stays retired.
    stats_.bump(stats_.clunks_unanswered);
  });
}

void Client::pump_locked() {
  if (state_ != State::kUp) return;
  uint32_t ms = msize_.load(std::memory_order_relaxed);
  while (!waiting_.empty() && inflight_ < opts_.max_inflight && !free_tags_.empty()) {
    CallPtr c = std::move(waiting_.front());
    waiting_.pop_front();
    if (c->size > ms) {
      // Sized for a larger msize that a reconnect no longer grants. The data path (kFail)
      // gets a retryable error, so the engine re-prepares the subrequest with new limits.
      c->finished = true;
      Error e = c->replay == Replay::kFail ? make_error(ECONNRESET, "9P: msize shrank on reconnect")
                                           : make_error(EMSGSIZE, "9P: message larger than msize");
      // Completing under the lock is not allowed (invariant 4): hand it to the I/O thread.
      asio::post(io_, [c, e] { c->done(e); });
      continue;
    }
    uint16_t tag = free_tags_.back();
    free_tags_.pop_back();
    c->tag = tag;
    set_message_tag(c->msg, tag);
    c->st = Call::St::kQueued;
    by_tag_[tag] = c;
    inflight_++;
    if (c->into) reads_tagged_.fetch_add(1, std::memory_order_relaxed);
    sendq_.push_back(std::move(c));
  }
  if (!sendq_.empty() && !writing_) {
    writing_ = true;
    asio::post(io_, [this, g = gen_] { start_write(g); });
  }
}

void Client::release_tag_locked(uint16_t tag) {
  CallPtr& c = by_tag_[tag];
  if (!c) return;
  if (!c->is_flush) inflight_--;
  if (c->into) reads_tagged_.fetch_sub(1, std::memory_order_relaxed);
  c.reset();
  free_tags_.push_back(tag);
}

// ---------------------------------------------------------------- cancel and timeout

void Client::abandon_locked(const CallPtr& c, const Error& e, std::vector<Failure>& fail) {
  c->finished = true;
  fail.push_back({c, e});
  switch (c->st) {
    case Call::St::kWaiting:
      waiting_.erase(std::find(waiting_.begin(), waiting_.end(), c));
      return;
    case Call::St::kQueued:
      // Never written: the tag can go back at once.
      sendq_.erase(std::find(sendq_.begin(), sendq_.end(), c));
      release_tag_locked(c->tag);
      return;
    case Call::St::kWriting:
    case Call::St::kSent:
      break;
  }
  c->abandoned = true;
  auto f = std::make_shared<Call>();
  f->is_flush = true;
  f->oldtag = c->tag;
  f->msg = encode(msg::Tflush{c->tag}).value();  // cannot fail: one integer
  f->expect = static_cast<uint8_t>(MsgType::kRflush);
  f->deadline = Clock::now() + opts_.rpc_timeout;
  f->finished = true;  // nobody waits for a flush
  // Invariant 5 guarantees a free tag.
  uint16_t tag = free_tags_.back();
  free_tags_.pop_back();
  f->tag = tag;
  set_message_tag(f->msg, tag);
  f->st = Call::St::kQueued;
  by_tag_[tag] = f;
  sendq_.push_back(f);
  stats_.bump(stats_.flushes);
  P9_TRACE_CONN(backend_flush, 0, tag);
  if (!writing_) {
    writing_ = true;
    asio::post(io_, [this, g = gen_] { start_write(g); });
  }
}

bool Client::cancel(uint64_t id) {
  {
    std::lock_guard lk(mu_);
    bool live = false;
    for (auto& c : waiting_) live |= c->id == id;
    for (auto& c : by_tag_) live |= c && c->id == id && !c->is_flush && !c->finished;
    if (!live) return false;
  }
  // On the I/O thread, which alone may drop the connection (invariant 3) when the call's
  // data is still being written (invariant 6).
  asio::post(io_, [this, id] { cancel_on_io(id); });
  return true;
}

void Client::cancel_on_io(uint64_t id) {
  std::vector<Failure> fail;
  bool kill = false;
  uint64_t g;
  {
    std::lock_guard lk(mu_);
    CallPtr found;
    for (auto& c : waiting_)
      if (c->id == id) found = c;
    for (auto& c : by_tag_)
      if (c && c->id == id && !c->is_flush) found = c;
    if (!found || found->finished) return;
    stats_.bump(stats_.cancels);
    g = gen_;
    if (found->st == Call::St::kWriting && !found->payload.empty()) {
      // Completed only after the connection is closed below; the new connection never
      // sees it (abandoned calls are not resent).
      found->finished = true;
      found->abandoned = true;
      fail.push_back({found, make_error(ECANCELED, "9P: call cancelled")});
      kill = true;
    } else {
      abandon_locked(found, make_error(ECANCELED, "9P: call cancelled"), fail);
    }
  }
  if (kill) connection_lost(g, ECANCELED, "cancel during write");
  complete(fail);
}

void Client::arm_sweep() {
  auto tick = std::clamp<std::chrono::milliseconds>(opts_.rpc_timeout / 8, std::chrono::milliseconds(5),
                                                    std::chrono::milliseconds(100));
  sweep_timer_.expires_after(tick);
  sweep_timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec) sweep();
  });
}

void Client::sweep() {
  auto now = Clock::now();
  std::vector<Failure> fail;
  bool kill = false;
  uint64_t g;
  {
    std::lock_guard lk(mu_);
    if (state_ == State::kClosed) return;
    std::vector<CallPtr> late;
    for (auto& c : by_tag_) {
      if (!c || c->deadline >= now) continue;
      if (c->is_flush && (c->st == Call::St::kSent || c->st == Call::St::kWriting))
        kill = true;  // the server answers neither the call nor its flush: it is gone
      else if (!c->is_flush && !c->abandoned)
        late.push_back(c);
    }
    for (auto& c : late) {
      if (c->st == Call::St::kWriting && !c->payload.empty()) {
        kill = true;  // invariant 6: the socket could not even take the call; drop it
        continue;
      }
      stats_.bump(stats_.timeouts);
      P9_TRACE_CONN(backend_timeout, 0, ETIMEDOUT);
      abandon_locked(c, make_error(ETIMEDOUT, "9P: no reply within the RPC timeout"), fail);
    }
    // Calls still waiting for a tag or a connection: past their own deadline, or all of
    // them once the server is unreachable (one caller's wait covers the calls after it).
    // (A call that came after the last failed reconnect attempt waits for the next one.)
    const bool unreachable = unreachable_locked(now);
    late.clear();
    for (auto& c : waiting_)
      if (c->deadline < now || (unreachable && attempts_ended_ > c->attempts_seen)) late.push_back(c);
    for (auto& c : late) {
      const bool gone = c->deadline >= now;
      stats_.bump(gone ? stats_.unreachable_fails : stats_.timeouts);
      abandon_locked(c, gone ? make_error(ETIMEDOUT, kUnreachable)
                             : make_error(ETIMEDOUT, "9P: no reply within the RPC timeout"),
                     fail);
    }
    g = gen_;
  }
  complete(fail);
  if (kill) connection_lost(g, ETIMEDOUT, "Tflush unanswered");
  arm_sweep();
}

// ---------------------------------------------------------------- the I/O thread

void Client::start_write(uint64_t g) {
  struct Batch {
    std::vector<CallPtr> calls;  // keep the bytes alive until the write ends
    std::vector<asio::const_buffer> bufs;
  };
  auto b = std::make_shared<Batch>();
  {
    std::lock_guard lk(mu_);
    if (g != gen_) return;  // invariant 3
    if (sendq_.empty()) {
      writing_ = false;
      return;
    }
    size_t batch = 0;
    while (!sendq_.empty() && (b->calls.empty() || batch + sendq_.front()->size <= kMaxWriteBatch)) {
      batch += sendq_.front()->size;
      b->calls.push_back(std::move(sendq_.front()));
      sendq_.pop_front();
    }
    for (auto& c : b->calls) c->st = Call::St::kWriting;
  }
  size_t bytes = 0;
  for (auto& c : b->calls) {
    b->bufs.push_back(asio::buffer(c->msg));
    for (const iovec& v : c->payload) b->bufs.push_back(asio::buffer(v.iov_base, v.iov_len));
    bytes += c->size;
  }
  stats_.bump(stats_.bytes_sent, bytes);
  asio::async_write(*sock_, b->bufs, [this, g, b](const asio::error_code& ec, size_t) {
    if (ec) return connection_lost(g, ec.value(), "write failed");
    {
      std::lock_guard lk(mu_);
      if (g != gen_) return;
      for (auto& c : b->calls)
        if (c->st == Call::St::kWriting) c->st = Call::St::kSent;
    }
    start_write(g);  // what queued meanwhile, or clear writing_
  });
}

void Client::start_read(uint64_t g) {
  size_t room = rbuf_.size() - rlen_;
  // While an Rread may come, read only up to the next reply's head: a larger read would
  // pull an Rread's data into rbuf_ (servers write a reply at once, so it is usually all
  // there), to be copied out again. Knowing the head, its data can go to its destination.
  // Small replies then cost one more read each, and only while call_reads are out.
  if (reads_tagged_.load(std::memory_order_relaxed) && rlen_ < kRreadHead) room = kRreadHead - rlen_;
  sock_->async_read_some(asio::buffer(rbuf_.data() + rlen_, room),
                         [this, g](const asio::error_code& ec, size_t n) { on_read(g, ec, n); });
}

void Client::on_read(uint64_t g, const asio::error_code& ec, size_t n) {
  {
    std::lock_guard lk(mu_);
    if (g != gen_) return;  // invariant 3
  }
  if (ec) return connection_lost(g, ec == asio::error::eof ? ECONNRESET : ec.value(), "read failed");
  rlen_ += n;
  stats_.bump(stats_.bytes_received, n);
  process(g);
}

void Client::process(uint64_t g) {
  const uint32_t ms = msize_.load(std::memory_order_acquire);
  // A loop, not recursion: a long stream of directly received Rreads passes through here
  // once per reply (the look-ahead holds the next head).
  for (;;) {
    size_t off = 0;
    bool direct = false;
    while (rlen_ - off >= 4) {
      WireReader r(ByteSpan(rbuf_.data() + off, 4));
      uint32_t size = r.u32();
      if (size < kHeaderSize || size > ms) {
        stats_.bump(stats_.protocol_errors);
        return connection_lost(g, EPROTO, "reply size outside [7, msize]");
      }
      if (rlen_ - off < size) {
        if (rlen_ - off >= kRreadHead) direct = begin_direct(g, off, size);
        break;
      }
      if (!dispatch(ByteSpan(rbuf_.data() + off, size))) {
        stats_.bump(stats_.protocol_errors);
        return connection_lost(g, EPROTO, "reply to a tag with no call");
      }
      off += size;
      // A completion may have dropped the connection (test hook) : stop using this buffer.
      std::lock_guard lk(mu_);
      if (g != gen_) return;
    }
    if (!direct) {
      std::memmove(rbuf_.data(), rbuf_.data() + off, rlen_ - off);
      rlen_ -= off;
      return start_read(g);
    }
    // The rest of the payload goes to its destination; rbuf_ then holds the look-ahead.
    if (!direct_read(g) || !finish_direct(g)) return;
  }
}

bool Client::begin_direct(uint64_t g, size_t off, uint32_t size) {
  const std::byte* p = rbuf_.data() + off;
  WireReader r(ByteSpan(p, kRreadHead));
  r.u32();
  uint8_t type = r.u8();
  uint16_t tag = r.u16();
  uint32_t count = r.u32();
  const size_t have = rlen_ - off;
  // The frame must be exactly its head and count bytes of data (size <= msize was checked
  // by the caller): otherwise it is received whole and dispatch fails it with EPROTO.
  if (type != static_cast<uint8_t>(MsgType::kRread) || size != kRreadHead + uint64_t(count)) return false;
  if (size - have < kDirectMin) return false;
  CallPtr c;
  {
    std::lock_guard lk(mu_);
    if (g != gen_ || tag >= by_tag_.size()) return false;
    c = by_tag_[tag];
    // Only a live call_read whose destination holds the whole count; anything else (an
    // unknown tag, an abandoned call, a lying count) takes the ordinary path, which
    // drops, refuses or fails it.
    if (!c || !c->into || c->is_flush || c->abandoned || c->finished || count > c->dest_len ||
        (c->st != Call::St::kSent && c->st != Call::St::kWriting))
      return false;
  }
  // Invariant 7: the call was live just now, and only the destructor could finish it
  // from another thread, which completes it only after this thread closed the socket.
  copy_to(c->dest, 0, p + kRreadHead, have - kRreadHead);
  rx_ = Direct{std::move(c), count, have - kRreadHead};
  rlen_ = 0;  // everything rbuf_ held from off on belonged to this frame
  return true;
}

bool Client::direct_read(uint64_t g) {
  std::vector<asio::mutable_buffer>& bufs = rx_bufs_;  // kept: no allocation per Rread
  for (;;) {
    bool live;
    {
      std::lock_guard lk(mu_);
      if (g != gen_) return false;  // invariant 3
      live = !rx_.call->finished;
    }
    const size_t want = rx_.count - rx_.got;
    bufs.clear();
    size_t asked = want;
    if (live)  // Asio passes at most 64 buffers to one recvmsg: the rest waits a turn
      asked = slice(rx_.call->dest, rx_.got, want, kMaxReadBuffers - 1, bufs);
    else  // invariant 7: completed meanwhile (cancel, timeout): keep the stream in step
      bufs.push_back(asio::buffer(rbuf_.data() + kRreadHead, want));
    // The look-ahead: the next reply's head, so that a stream of Rreads takes one read each.
    if (asked == want) {
      bufs.push_back(asio::buffer(rbuf_.data(), kRreadHead));
      asked += kRreadHead;
    }
    asio::error_code ec;
    size_t n = sock_->read_some(bufs, ec);  // non-blocking (install): EAGAIN, never a wait
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      connection_lost(g, ec == asio::error::eof ? ECONNRESET : ec.value(), "read failed");
      return false;
    }
    if (!ec) {
      stats_.bump(stats_.bytes_received, n);
      const size_t part = std::min(n, want);
      if (!live) stats_.bump(stats_.read_bytes_discarded, part);
      rx_.got += part;
      rlen_ = n - part;
      if (rx_.got == rx_.count) return true;
      if (n == asked) continue;  // filled every buffer: the socket may hold more
    }
    // EAGAIN, or a short read (which drained the socket): bytes that arrive from now on
    // make it readable again, and the edge-triggered reactor reports that.
    sock_->async_wait(asio::socket_base::wait_read, [this, g](const asio::error_code& e) {
      {
        std::lock_guard lk(mu_);
        if (g != gen_) return;
      }
      if (e) return connection_lost(g, e.value(), "wait for read failed");
      if (direct_read(g) && finish_direct(g)) process(g);
    });
    return false;
  }
}

bool Client::finish_direct(uint64_t g) {
  CallPtr c = std::move(rx_.call);
  const size_t count = rx_.count;
  rx_ = Direct{};
  {
    std::lock_guard lk(mu_);
    if (g != gen_) return false;
    // Finished meanwhile (cancelled or timed out, so abandoned): its tag waits for Rflush.
    session_replies_++;
    if (c->finished) return true;
    release_tag_locked(c->tag);
    c->finished = true;
    pump_locked();
  }
  stats_.bump(stats_.rpcs);
  stats_.bump(stats_.reads_direct);
  c->done(Reply{static_cast<uint8_t>(MsgType::kRread), {}, count});
  if (test_on_reply_) test_on_reply_(++test_replies_);
  std::lock_guard lk(mu_);
  return g == gen_;  // a completion may have dropped the connection (test hook)
}

bool Client::dispatch(ByteSpan frame) {
  auto f = parse_frame(frame, msize_.load(std::memory_order_relaxed));
  if (!f.ok()) return false;
  CallPtr c;
  {
    std::lock_guard lk(mu_);
    if (f->tag >= by_tag_.size()) return false;
    c = by_tag_[f->tag];
    // kWriting too: the server may answer before our write handler has run.
    if (!c || (c->st != Call::St::kSent && c->st != Call::St::kWriting)) return false;
    session_replies_++;
    if (c->is_flush) {
      // Rflush (or, from a confused server, anything): both tags are free now (invariant 2).
      CallPtr& old = by_tag_[c->oldtag];
      if (old && old->abandoned) release_tag_locked(c->oldtag);
      release_tag_locked(f->tag);
      pump_locked();
      return true;
    }
    if (c->abandoned) return true;  // the reply beat our Tflush; its tag waits for Rflush
    release_tag_locked(f->tag);
    c->finished = true;
    pump_locked();
  }
  stats_.bump(stats_.rpcs);
  if (f->type == static_cast<uint8_t>(MsgType::kRlerror)) {
    auto e = decode<msg::Rlerror>(f->body);
    if (!e.ok() || e->ecode == 0 || e->ecode > 4095) {
      stats_.bump(stats_.protocol_errors);
      c->done(make_error(EPROTO, "9P: malformed Rlerror"));
    } else {
      // A walk to a name that does not exist is a lookup's normal answer, not a failure.
      bool negative = c->expect == static_cast<uint8_t>(MsgType::kRwalk) && e->ecode == ENOENT;
      stats_.bump(negative ? stats_.negative_lookups : stats_.errors);
      c->done(make_error(static_cast<int>(e->ecode), "9P: server error"));
    }
  } else if (f->type != c->expect) {
    stats_.bump(stats_.protocol_errors);
    c->done(make_error(EPROTO, "9P: reply of an unexpected type"));
  } else if (c->into) {
    // A call_read's Rread that arrived whole in rbuf_: checked like any reply, then
    // copied. Invariant 7: the call is finished only by this thread now, so nothing else
    // can complete it between the copy and done.
    auto d = decode<msg::Rread>(f->body);
    if (!d.ok() || d->data.v.size() > c->dest_len) {
      stats_.bump(stats_.protocol_errors);
      c->done(make_error(EPROTO, "9P: malformed Rread or more data than asked for"));
    } else {
      copy_to(c->dest, 0, d->data.v.data(), d->data.v.size());
      stats_.bump(stats_.reads_copied);
      c->done(Reply{f->type, {}, d->data.v.size()});
    }
  } else {
    c->done(Reply{f->type, f->body});
  }
  if (test_on_reply_) test_on_reply_(++test_replies_);
  return true;
}

void Client::complete(std::vector<Failure>& fail) {
  for (auto& f : fail) f.call->done(f.error);
  fail.clear();
}

}  // namespace netfs::p9
