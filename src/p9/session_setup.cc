#include "p9/session_setup.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "p9/codec.h"
#include "p9/munge_credential.h"

namespace netfs::p9 {

namespace {

using Clock = std::chrono::steady_clock;

// The context of errors the server sent (Rlerror), as opposed to a failed connection.
const char kRefused[] = "9P setup: server refused";
bool refused(const Error& e) { return e.context == kRefused; }

// One request, one reply, on a blocking socket, every wait bounded by the deadline.
class BlockingChannel {
 public:
  BlockingChannel(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}

  // Sends msg with `tag` and returns the reply frame's bytes (checked against msize).
  Result<Bytes> rpc(Bytes msg, uint16_t tag, uint32_t msize) {
    set_message_tag(msg, tag);
    auto deadline = Clock::now() + timeout_;
    NETFS_TRY(io(msg.data(), msg.size(), POLLOUT, deadline));
    Bytes reply(4);
    NETFS_TRY(io(reply.data(), 4, POLLIN, deadline));
    WireReader r(reply);
    uint32_t size = r.u32();
    if (size < kHeaderSize || size > msize) return make_error(EPROTO, "9P setup: bad reply size");
    reply.resize(size);
    NETFS_TRY(io(reply.data() + 4, size - 4, POLLIN, deadline));
    return reply;
  }

 private:
  Status io(std::byte* p, size_t n, short events, Clock::time_point deadline) {
    while (n > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return make_error(ETIMEDOUT, "9P setup: server did not answer");
      pollfd pfd{fd_, events, 0};
      int pr = poll(&pfd, 1, static_cast<int>(left.count()) + 1);
      if (pr < 0 && errno == EINTR) continue;
      if (pr < 0) return make_error(errno, "9P setup: poll");
      if (pr == 0) continue;
      ssize_t k = events == POLLOUT ? send(fd_, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd_, p, n, MSG_DONTWAIT);
      if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (k < 0) return make_error(errno, "9P setup: socket");
      if (k == 0) return make_error(ECONNRESET, "9P setup: connection closed");
      p += k;
      n -= static_cast<size_t>(k);
    }
    return ok_status();
  }

  int fd_;
  std::chrono::milliseconds timeout_;
};

// Sends m and decodes the expected reply R, turning Rlerror into its errno.
template <class R, class T>
Result<R> exchange(BlockingChannel& ch, const T& m, uint16_t tag, uint32_t msize) {
  auto bytes = encode(m);
  if (!bytes.ok()) return bytes.error();
  auto reply = ch.rpc(std::move(*bytes), tag, msize);
  if (!reply.ok()) return reply.error();
  auto f = parse_frame(*reply, msize);
  if (!f.ok()) return f.error();
  if (f->tag != tag) return make_error(EPROTO, "9P setup: reply with the wrong tag");
  if (f->type == static_cast<uint8_t>(MsgType::kRlerror)) {
    auto e = decode<msg::Rlerror>(f->body);
    if (!e.ok()) return e.error();
    if (e->ecode == 0 || e->ecode > 4095) return make_error(EPROTO, "9P setup: Rlerror without a valid errno");
    return make_error(static_cast<int>(e->ecode), kRefused);
  }
  if (f->type != static_cast<uint8_t>(R::kType)) return make_error(EPROTO, "9P setup: unexpected reply type");
  return decode<R>(f->body);
}

// Walks fid from the root along path, 16 names per Twalk; the last qid, or ENOENT.
Result<Qid> walk_path(BlockingChannel& ch, uint32_t fid, const Path& path, const Qid& root, uint32_t msize) {
  Qid q = root;
  uint32_t from = FidTable::kRootFid;
  size_t i = 0;
  do {
    msg::Twalk w{from, fid, {}};
    size_t n = std::min(kMaxWalkElems, path.size() - i);
    w.names.v.assign(path.begin() + static_cast<ptrdiff_t>(i), path.begin() + static_cast<ptrdiff_t>(i + n));
    auto r = exchange<msg::Rwalk>(ch, w, 1, msize);
    if (!r.ok()) return r.error();
    if (r->qids.v.size() != n) {
      // A partial walk leaves newfid unset (9P): nothing to clunk unless from == fid.
      return make_error(ENOENT, kRefused);
    }
    if (n) q = r->qids.v.back();
    from = fid;
    i += n;
  } while (i < path.size());
  return q;
}

constexpr uint32_t kAuthFid = 1;  // the root fid is 0; no other fid exists during setup

// Tauth, then a MUNGE credential written into the auth fid (diod's handshake). On
// success the server holds kAuthFid for the attach; the caller clunks it afterwards.
// *offered tells whether the server answered Tauth at all.
Status authenticate(BlockingChannel& ch, const SessionConfig& cfg, uint32_t msize, bool* offered) {
  *offered = false;
  auto a = exchange<msg::Rauth>(ch, msg::Tauth{kAuthFid, cfg.uname, cfg.aname, cfg.n_uname}, 0, msize);
  if (!a.ok()) return a.error();
  *offered = true;
  auto cred = munge_credential();
  if (!cred.ok()) return make_error(cred.error().errnum, kMungeUnavailable);
  std::string c = std::move(*cred);
  msg::Twrite w{kAuthFid, 0, {ByteSpan(reinterpret_cast<const std::byte*>(c.data()), c.size())}};
  auto r = exchange<msg::Rwrite>(ch, w, 0, msize);
  if (!r.ok()) return r.error();
  if (r->count != c.size()) return make_error(EPROTO, "9P auth: short write of the credential");
  return ok_status();
}

}  // namespace

Result<SessionInfo> setup_session(int fd, const SessionConfig& cfg, FidTable& fids) {
  BlockingChannel ch(fd, cfg.timeout);
  SessionInfo info;

  auto v = exchange<msg::Rversion>(ch, msg::Tversion{cfg.msize, kVersion9P2000L}, kNoTag, cfg.msize);
  if (!v.ok()) return v.error();
  if (v->version != kVersion9P2000L) return make_error(EPROTONOSUPPORT, "9P setup: server does not speak 9P2000.L");
  if (v->msize > cfg.msize) return make_error(EPROTO, "9P setup: server granted more msize than asked");
  if (v->msize < kMinMsize) return make_error(EPROTO, "9P setup: msize too small");
  info.msize = v->msize;

  bool authed = false, offered = false;
  if (cfg.auth == Auth::kMunge) {
    Status st = authenticate(ch, cfg, info.msize, &offered);
    if (!st.ok()) return refused(st.error()) && offered ? make_error(st.error().errnum, kAuthRejected) : st.error();
    authed = true;
  }
  auto attach = [&] {
    return exchange<msg::Rattach>(
        ch, msg::Tattach{FidTable::kRootFid, authed ? kAuthFid : kNoFid, cfg.uname, cfg.aname, cfg.n_uname}, 0,
        info.msize);
  };
  auto a = attach();
  // Refused: if the server answers Tauth it wants authentication (diod without -n says
  // only EPERM to the attach), and that is the reason to act on or report.
  if (!a.ok() && refused(a.error()) && !authed) {
    Error refusal = a.error();
    if (cfg.auth == Auth::kNone) {
      // Only to word the error: does the server want authentication?
      bool wants = exchange<msg::Rauth>(ch, msg::Tauth{kAuthFid, cfg.uname, cfg.aname, cfg.n_uname}, 0, info.msize).ok();
      if (wants) (void)exchange<msg::Rclunk>(ch, msg::Tclunk{kAuthFid}, 0, info.msize);
      return make_error(refusal.errnum, wants ? kAuthRequired : kAttachRefused);
    }
    Status st = authenticate(ch, cfg, info.msize, &offered);
    if (!offered) return refused(st.error()) ? make_error(refusal.errnum, kAttachRefused) : st.error();
    if (!st.ok()) {
      (void)exchange<msg::Rclunk>(ch, msg::Tclunk{kAuthFid}, 0, info.msize);
      if (st.error().context == kMungeUnavailable) return st.error();
      return refused(st.error()) ? make_error(refusal.errnum, kAuthRejected) : st.error();
    }
    authed = true;
    a = attach();
  }
  if (authed) (void)exchange<msg::Rclunk>(ch, msg::Tclunk{kAuthFid}, 0, info.msize);
  if (!a.ok()) return refused(a.error()) ? make_error(a.error().errnum, authed ? kAuthRejected : kAttachRefused) : a.error();
  info.root_qid = a->qid;
  auto old_root = fids.get(FidTable::kRootFid);
  fids.set(FidTable::kRootFid, FidInfo{{}, a->qid, -1, false, true, {}, 0});
  bool root_replaced = old_root && old_root->qid.path != a->qid.path;

  for (auto& [fid, fi] : fids.snapshot()) {
    if (fid == FidTable::kRootFid || fi.stale) continue;
    // A different export root means every remembered path may now name another file.
    if (!fi.rebuildable || root_replaced) {
      fids.mark_stale(fid);
      info.stale++;
      continue;
    }
    auto q = walk_path(ch, fid, fi.path, a->qid, info.msize);
    if (!q.ok() && !refused(q.error())) return q.error();  // the connection itself failed
    // The same name may now be another file (removed and recreated): only the same qid
    // path is the same file.
    bool same = q.ok() && q->path == fi.qid.path;
    if (same && fi.open_flags >= 0) {
      uint32_t flags = static_cast<uint32_t>(fi.open_flags) & ~uint32_t(O_CREAT | O_EXCL | O_TRUNC);
      auto o = exchange<msg::Rlopen>(ch, msg::Tlopen{fid, flags}, 1, info.msize);
      if (!o.ok() && !refused(o.error())) return o.error();
      same = o.ok();
      if (same) fids.set_open(fid, static_cast<uint32_t>(fi.open_flags), o->qid, o->iounit);
    }
    for (size_t i = 0; same && i < fi.locks.size(); i++) {
      const HeldLock& h = fi.locks[i];
      uint64_t len = h.end == UINT64_MAX ? 0 : h.end - h.start;
      auto l = exchange<msg::Rlock>(ch, msg::Tlock{fid, h.type, 0, h.start, len, h.proc_id, h.client_id}, 1, info.msize);
      if (!l.ok() && !refused(l.error())) return l.error();
      same = l.ok() && l->status == lock_status::kSuccess;
      if (same) info.locks++;
    }
    if (same) {
      info.rebuilt++;
    } else {
      fids.mark_stale(fid);
      info.stale++;
    }
  }
  return info;
}

}  // namespace netfs::p9
