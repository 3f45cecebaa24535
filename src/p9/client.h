// Client: an asynchronous 9P2000.L client on one connection (TCP or Unix socket), with
// many RPCs in flight, per-RPC timeouts, Tflush on cancel and timeout, and reconnection.
//
// How it works (the invariants are numbered in client.cc):
//  - call() takes an encoded T-message and a completion. The message waits in a queue
//    until the connection is up and a tag and an in-flight slot are free, is given a tag
//    and is written by the I/O thread, many messages per writev.
//  - The I/O thread (Asio) reads replies in large chunks, matches them to calls by tag,
//    turns Rlerror into its errno and a reply of the wrong type or shape into EPROTO,
//    and runs the completion. The payload of an Rread whose call gave a destination
//    (call_read) is read from the socket straight into that destination instead (see
//    "Zero-copy reads" below). A frame that cannot be parsed (bad size, unknown tag)
//    means the byte stream cannot be trusted any further: the connection is dropped.
//  - A call past its deadline, or cancelled, completes at once with ETIMEDOUT /
//    ECANCELED; if it was sent, Tflush(oldtag) follows and the old tag is reused only
//    after Rflush (9P's rule: a late reply to the old tag must not be mistaken for
//    another call's).
//  - When the connection drops, calls not yet sent wait for the next connection; sent
//    calls marked Replay::kResend (idempotent ones) are sent again; sent calls marked
//    Replay::kFail complete with ECONNRESET, which the engine treats as retryable and the
//    namespace layer resolves by looking at the server. A reconnect thread connects with
//    exponential backoff, renegotiates msize, re-attaches and rebuilds every fid
//    (session_setup.h), then hands the socket to the I/O thread.
//  - Deadlines (issue 15): rpc_timeout bounds a call, and also how long the server may
//    stay away. Once the connection has been down for rpc_timeout (or was dropped because
//    the server answered neither a call nor its Tflush, which took a timeout already),
//    the server is *unreachable*: every waiting call and every new one fails at once with
//    ETIMEDOUT (kUnreachable) until a reconnect succeeds. So a caller that makes several
//    calls in a row (engine retries, a lookup's walk and getattr) waits about one
//    rpc_timeout in all, not one per call; the reconnect thread keeps trying meanwhile.
//    A call made while unreachable asks for a reconnect attempt out of the backoff's turn
//    (at most one per 100 ms) and fails when that attempt fails: a server that is back
//    serves the next call, whatever the backoff had reached. Not so after a session that
//    failed early (a misbehaving server): then such calls fail at once.
//
// Zero-copy reads (call_read): while call_reads hold tags, a read into the receive buffer
// stops at the next reply's first 11 bytes (size, type, tag, count); servers write a
// reply at once, so a larger read would pull a whole Rread in, to be copied out again.
// If those bytes are an Rread head that checks out (the tag is a live call_read, count <=
// the destination's length, size == 11 + count <= msize) and at least 8 KiB of data is
// still to come, the data is read with recvmsg straight into the destination's iovecs,
// followed by an 11-byte look-ahead into the receive buffer: a stream of Rreads then
// costs one read each, two when the server is slower than us, and no copy. Any other
// reply goes through the receive buffer as before, many replies per read when no
// call_read is out (small RPCs keep their batching); an Rread that arrived whole there
// is checked the same way and copied. A reply that fails a check is received whole into
// the receive buffer and fails its call with EPROTO; nothing is written to a destination
// beyond the count that passed the checks.
//
// The destination rule: a call_read's destination receives bytes only while its call is
// not complete, and its completion runs only when no socket read can be writing into it.
// Every socket read happens on the I/O thread, between handlers; a cancel, timeout or
// connection loss completes the call on that thread between two reads, and the
// destructor completes calls only after the I/O thread has closed the socket. Once the
// call is complete, what is left of its payload in the stream is read into the receive
// buffer and thrown away (the stream must stay in step). So: the destination must stay
// valid until `done` runs, and may be freed as soon as it has run. cancel() itself is
// asynchronous (it returns before the completion), so a caller that cancels must still
// wait for `done` before freeing the destination, exactly as for a Twrite payload.
//
// Threading: call(), cancel() and the accessors are thread-safe. Completions run on the
// I/O thread and must not block on another RPC (call_sync from a completion deadlocks);
// they may call call(). Requires for the destructor: no thread is inside call_sync().
#pragma once

#include <asio.hpp>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netfs/result.h"
#include "netfs/stats.h"
#include "netfs/trace.h"
#include "p9/client_stats.h"
#include "p9/codec.h"
#include "p9/endpoint.h"
#include "p9/fid_table.h"
#include "p9/rate_limit.h"
#include "p9/session_setup.h"

namespace netfs::p9 {

struct ClientOptions {
  Endpoint endpoint;
  std::string aname;            // the export to attach
  std::string uname = "root";   // user name for Tattach
  uint32_t n_uname = kNoUname;  // numeric uid for Tattach (preferred by .L servers)
  Auth auth = Auth::kAuto;      // MUNGE when the server asks for it (session_setup.h)
  uint32_t msize = 1u << 20;    // asked for (default 1 MiB); the server may grant less

  // Per-RPC limit from call() to reply (default 30 s), including time spent waiting for
  // a reconnect; past it the call fails with ETIMEDOUT. Also the time after which a
  // silent or disconnected server is unreachable and calls fail at once (above).
  std::chrono::milliseconds rpc_timeout{30000};
  // Limit for connecting and for each session-setup RPC (default 5 s).
  std::chrono::milliseconds connect_timeout{5000};
  // Reconnect backoff: first wait, doubling to the max (defaults 10 ms, 5 s), each wait
  // drawn at random from its upper half (jitter). It keeps growing across sessions lost
  // to a protocol error or that answered nothing (a server that attaches and then
  // misbehaves), and starts over only after a good one (client_reconnect.cc).
  std::chrono::milliseconds reconnect_backoff{10};
  std::chrono::milliseconds reconnect_backoff_max{5000};
  // RPCs on the wire at once (default 64); later calls queue. Tags are drawn from a pool
  // a little larger, so that Tflush always finds one.
  size_t max_inflight = 64;
  // Connections to the server (1 to kMaxConnections, default 1). Beyond the first, each
  // is a lane (lanes.h) with its own attach and fids, over which p9::Backend spreads its
  // Tread/Twrite; every other RPC uses the first. max_inflight applies per connection.
  size_t connections = 1;

  // The engine's trace, where connection events go too (lost, up, stale fids, Tflush,
  // timeouts: the backend_* reasons of include/netfs/trace.h); may be null.
  netfs::Trace* trace = nullptr;
};

inline constexpr size_t kMaxConnections = 16;

class Lanes;

// The context of the ECONNRESET a Replay::kFail call gets when the connection dropped
// after it was sent: the server may or may not have carried it out.
// One object (not an inline constant) so that its address identifies it in every unit.
extern const char kLostInFlight[];
// The context of the ETIMEDOUT of a call failed because the server is unreachable.
extern const char kUnreachable[];

// A call that failed with this errno was sent and may have been carried out: we stopped
// waiting (timeout, cancel); the server did not say no. Any other error means the server
// refused it, or the session (and every fid it made) is gone.
inline bool may_have_run(int errnum) { return errnum == ETIMEDOUT || errnum == ECANCELED; }

// What happens to a call that was sent when the connection dropped.
enum class Replay : uint8_t {
  kResend,  // idempotent: send it again on the new connection
  kFail,    // complete with ECONNRESET; the caller decides (engine retry, state check)
};

// A reply as the completion sees it. body views the receive buffer: valid only during
// the completion. For a call_read's Rread, body is empty and data_len is the number of
// bytes placed at the start of the destination (<= its length, checked).
struct Reply {
  uint8_t type = 0;
  ByteSpan body;
  size_t data_len = 0;
};

using Completion = std::function<void(Result<Reply>)>;

class Client {
 public:
  // Connects, negotiates and attaches. Fails with the connect or setup error; the
  // background reconnect only starts once a first session was established.
  static Result<std::unique_ptr<Client>> connect(ClientOptions options);
  ~Client();  // close(), then frees everything
  // Fails pending calls with ESHUTDOWN and joins the client's threads (its lanes' first);
  // later calls complete at once, on the caller's thread, with ESHUTDOWN. Idempotent;
  // not to be called concurrently with itself, nor from a completion of this client.
  // The destructor calls it; Lanes calls it on each lane.
  void close();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends msg (an encoded T-message; its tag is overwritten) and runs done with the reply
  // of type `expect` or an error. Returns an id for cancel().
  uint64_t call(Bytes msg, MsgType expect, Replay replay, Completion done);
  // The same with zero-copy data: header (a whole message's first bytes, its size field
  // counting the payload too) is followed on the wire by the payload segments, which are
  // read in place. Requires: the payload stays valid and unchanged until done runs.
  uint64_t call(Bytes header, std::vector<iovec> payload, MsgType expect, Replay replay, Completion done);
  // A Tread (msg, encoded) whose Rread data goes straight into `dest` (zero-copy; see
  // "Zero-copy reads" above). The completion gets Reply{kRread, {}, count}; an Rread whose
  // count exceeds dest's total length fails with EPROTO. Requires: dest stays valid until
  // done runs; nothing is written to it after that.
  uint64_t call_read(Bytes msg, std::vector<iovec> dest, Replay replay, Completion done);
  // Completes the call with ECANCELED (and flushes it if sent). False if already done.
  bool cancel(uint64_t id);

  // Forgets fid and clunks it without waiting for the reply: the caller goes on at once,
  // and the number returns to the FidTable's pool only when no fid by that number can
  // exist on the server any more (Rclunk or Rlerror arrived, or its session ended). A
  // Tclunk that times out keeps its number out of the pool for good (clunks_unanswered).
  // The fid's lane fids (other connections) are clunked the same way.
  // May be called from a completion. No-op for the root fid.
  void release_fid(uint32_t fid);

  // Blocking helpers. Requires: not called from a completion.
  Result<Bytes> call_sync(Bytes msg, MsgType expect, Replay replay);
  template <class R, class T>
  Result<R> rpc(const T& t, Replay replay = Replay::kResend) {
    auto m = encode(t);
    if (!m.ok()) return m.error();
    auto body = call_sync(std::move(*m), R::kType, replay);
    if (!body.ok()) return body.error();
    return decode<R>(*body);
  }

  // The negotiated msize, and the data one Twrite / Tread / Treaddir can carry with it.
  uint32_t msize() const { return msize_.load(std::memory_order_acquire); }
  size_t max_io() const { return msize() - kIoHeaderSize; }
  size_t max_write() const { return max_io(); }
  size_t max_read() const { return max_io(); }

  FidTable& fids() { return fids_; }
  // The extra connections (null when ClientOptions::connections is 1).
  // The lifetime rule: lanes_ is set before the client's threads start and never changes
  // afterwards, so this reads it without a lock, from any thread (completions too), and
  // the pointer stays valid as long as the Client: close() (the destructor's first step)
  // only closes the lanes (their calls fail with ESHUTDOWN from then on); the Lanes
  // object itself is destroyed with the Client's members, after its I/O thread joined.
  Lanes* lanes() const { return lanes_.get(); }
  ClientStats& stats() { return stats_; }
  // Calls submitted whose completion has not yet returned (Tflush not included). At 0,
  // every RPC made so far is counted in stats().rpcs: a caller that waits for 0 after an
  // operation sees all of its effects, also those nobody waited for (close's getattr).
  uint64_t calls_pending() const { return pending_.load(std::memory_order_acquire); }
  // Appends the client's samples to m as group p9 (include/netfs/metrics.h): the
  // negotiated msize, the calls pending and every counter. The mount's `netfs stats` takes
  // the backend's numbers from here, so the layers above it need not know what they are.
  void collect(Metrics& m) const;
  const ClientOptions& options() const { return opts_; }
  bool connected() const;
  // The server is unreachable: calls fail at once (see Deadlines above).
  bool unreachable() const;

  // Test hooks: drop the connection as a network failure would; wait (bounded) until a
  // reconnect has completed `n` times in total.
  void test_drop_connection();
  bool test_wait_reconnects(uint64_t n, std::chrono::milliseconds limit);
  // Runs fn(replies so far) on the I/O thread after each reply is delivered, so a test can
  // act at an exact point of a transfer (kill the server after the 300th reply). Set and
  // cleared through the I/O thread; returns once it is in place.
  void test_on_reply(std::function<void(uint64_t)> fn);

 private:
  struct Call;
  using CallPtr = std::shared_ptr<Call>;
  enum class State : uint8_t { kUp, kDown, kClosed };
  struct Failure {
    CallPtr call;
    Error error;
  };

  explicit Client(ClientOptions options);
  uint64_t submit(CallPtr c);            // a built call: deadline, id, queue
  void install(int fd, uint32_t msize);  // I/O thread: adopt a set-up socket
  void pump_locked();                    // assign tags to waiting calls, start writing
  void start_write(uint64_t gen);
  void start_read(uint64_t gen);
  void on_read(uint64_t gen, const asio::error_code& ec, size_t n);
  void process(uint64_t gen);  // parse what rbuf_ holds, then read more
  // The incomplete frame at rbuf_[off] (size bytes in all) is an Rread for a live
  // call_read that checks out: copy what has arrived of its data to the destination and
  // set rx_ up for the rest. False: receive it into rbuf_ as usual.
  bool begin_direct(uint64_t gen, size_t off, uint32_t size);
  // Reads what it can of rx_'s payload (and the look-ahead); true when it is complete,
  // false when it waits for the socket (resuming by itself) or the connection is gone.
  bool direct_read(uint64_t gen);
  // Completes rx_'s call (unless it was completed meanwhile); false if the connection
  // changed under the completion.
  bool finish_direct(uint64_t gen);
  bool dispatch(ByteSpan frame);  // false: no call owns this tag (connection is unusable)
  void connection_lost(uint64_t gen, int err, const char* why);
  void log(const std::string& line);  // rate-limited, to stderr (the daemon's log)
  void abandon_locked(const CallPtr& c, const Error& e, std::vector<Failure>& fail);
  void release_tag_locked(uint16_t tag);
  void cancel_on_io(uint64_t id);
  void arm_sweep();
  void sweep();
  void reconnect_loop();
  bool unreachable_locked(std::chrono::steady_clock::time_point now) const;
  static void complete(std::vector<Failure>& fail);

  const ClientOptions opts_;
  ClientStats stats_;
  FidTable fids_;
  // Set by connect() before the threads start; constant until the members are destroyed
  // (after close()), so read without a lock (see lanes()). Declared after fids_, which
  // the lanes read: destroyed before it.
  std::unique_ptr<Lanes> lanes_;
  std::atomic<uint32_t> msize_{0};

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<asio::generic::stream_protocol::socket> sock_;  // I/O thread only
  asio::steady_timer sweep_timer_;
  Bytes rbuf_;       // I/O thread only
  size_t rlen_ = 0;  // bytes of rbuf_ holding unparsed data
  // The Rread payload being read straight into its call's destination (I/O thread only;
  // call is null when none is). rbuf_ is empty meanwhile, apart from the look-ahead.
  struct Direct {
    CallPtr call;
    size_t count = 0;  // the Rread's data bytes
    size_t got = 0;    // of them received
  };
  Direct rx_;
  std::vector<asio::mutable_buffer> rx_bufs_;  // direct_read's buffer list (I/O thread only)

  mutable std::mutex mu_;  // guards everything below; a leaf lock, never held in a completion
  std::condition_variable cv_;
  State state_ = State::kDown;
  uint64_t gen_ = 0;  // bumped by every connection change; stale I/O handlers compare it
  uint64_t next_id_ = 1;
  std::vector<CallPtr> by_tag_;   // calls holding a tag: queued, sent or awaiting Rflush
  std::vector<uint16_t> free_tags_;
  size_t inflight_ = 0;           // tags held by ordinary (non-flush) calls
  // calls_pending(): up in submit, down after the call's completion returned (publishes
  // the completion's effects, stats included, to a reader that sees the new value).
  std::atomic<uint64_t> pending_{0};
  // Tags held by call_reads (changed under mu_; the I/O thread reads it without): while
  // any is held, reads into rbuf_ stop at the next reply's head (start_read).
  std::atomic<size_t> reads_tagged_{0};
  std::deque<CallPtr> waiting_;   // calls without a tag
  std::deque<CallPtr> sendq_;     // tagged, not yet handed to a write
  bool writing_ = false;
  uint64_t reconnects_ = 0;
  std::chrono::steady_clock::time_point down_since_;  // when state_ last left kUp
  // The current session's start and answered calls: a session lost to garbage, or that
  // answered nothing (kGoodSession in client_reconnect.cc), does not reset the backoff.
  std::chrono::steady_clock::time_point up_since_;
  uint64_t session_replies_ = 0;
  bool last_session_good_ = true;
  uint64_t attempts_started_ = 0;      // reconnect attempts begun so far
  uint64_t attempts_ended_ = 0;        // of them, failed
  bool attempt_wanted_ = false;        // a call waits while unreachable: try now
  std::chrono::steady_clock::time_point last_attempt_end_;
  RateLimit log_limit_{10, std::chrono::seconds(60)};
  bool ever_up_ = false;  // the first install is a connect, later ones are reconnects

  std::function<void(uint64_t)> test_on_reply_;  // I/O thread only
  uint64_t test_replies_ = 0;                     // I/O thread only
  std::thread io_thread_;
  std::thread reconnect_thread_;
};

}  // namespace netfs::p9
