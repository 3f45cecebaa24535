// Filesystem: POSIX record locks (arbitrated locally by LockTable, one whole-file lock on
// the server) and flock(2) (on the server), polled since 9P has no lock callbacks.
#include "fuse/filesystem.h"

#include <sys/file.h>

#include <algorithm>
#include <chrono>

#include "fuse/internal.h"

namespace netfs::fuse {

namespace {

// struct flock as FUSE hands it over (l_whence SEEK_SET, l_len 0 = to the end of the
// file) → a RecordLock. A negative l_len (POSIX allows it: the bytes before l_start)
// arrives normalised by the kernel, and is taken here too.
Result<RecordLock> to_record(const struct flock& l, uint64_t owner) {
  RecordLock r;
  r.owner = owner;
  r.type = l.l_type;
  r.pid = l.l_pid;
  int64_t start = l.l_start, len = l.l_len;
  if (len < 0) {
    start += len;
    len = -len;
  }
  if (start < 0) return make_error(EINVAL, "lock: negative start");
  r.start = static_cast<uint64_t>(start);
  if (len == 0 || static_cast<uint64_t>(len) - 1 >= kLockEof - r.start) {
    r.end = kLockEof;
  } else {
    r.end = r.start + static_cast<uint64_t>(len) - 1;
  }
  return r;
}

}  // namespace

std::shared_ptr<LockTable> Filesystem::lock_table(const std::shared_ptr<Node>& n) {
  std::lock_guard lk(n->io_mu);
  if (!n->posix_locks) {
    // The table lives in the node and goes before it: the raw pointer stays valid.
    Node* np = n.get();
    n->posix_locks = std::make_shared<LockTable>(
        [this, np](ServerMode from, ServerMode to) { return posix_server_lock(*np, from, to); });
  }
  return n->posix_locks;
}

std::shared_ptr<LockTable> Filesystem::lock_table_if_any(Node& n) {
  std::lock_guard lk(n.io_mu);
  return n.posix_locks;
}

Status Filesystem::posix_server_lock(Node& n, ServerMode from, ServerMode to) {
  if (from == ServerMode::kWrite && to != ServerMode::kWrite) {
    // What was written under a write lock reaches the server before anyone elsewhere can
    // take the lock (NFS does the same at unlock).
    std::shared_ptr<Inode> inode;
    {
      std::lock_guard lk(n.io_mu);
      inode = n.inode;
    }
    // A failure is reported to the open files at their fsync or close (errseq); the lock
    // goes anyway, as the kernel's would.
    if (inode) {
      Errseq::Cursor since = inode->wb_err().sample();
      (void)netfs::fsync(*inode, since);
    }
  }
  if (to == ServerMode::kNone && n.posix_lock_fid.load() == p9::kNoFid) return ok_status();  // nothing held
  auto fid = posix_lock_fid(n);
  if (!fid.ok()) return fid.error();
  // One try: the table polls (without its mutex).
  return lock_polled(*fid, posix_request(to), /*sleep=*/false);
}

Result<uint32_t> Filesystem::posix_lock_fid(Node& n) {
  uint32_t fid = n.posix_lock_fid.load();
  if (fid != p9::kNoFid) return fid;
  auto f = open_lock_fid(n);
  if (!f.ok()) return f.error();
  n.posix_lock_borrowed.store(f->borrowed);
  n.posix_lock_fid.store(f->fid);
  return f->fid;
}

p9::Lock Filesystem::posix_request(ServerMode to) const {
  p9::Lock k;
  k.type = to == ServerMode::kNone   ? p9::lock_type::kUnlck
           : to == ServerMode::kRead ? p9::lock_type::kRdlck
                                     : p9::lock_type::kWrlck;
  k.start = 0;
  k.length = 0;  // the whole file: diod locks whole files (flock(2)) whatever we ask
  k.proc_id = static_cast<uint32_t>(::getpid());
  k.client_id = lock_client_id_ + ":posix";
  return k;
}

p9::Lock Filesystem::flock_request(int op, uint64_t owner) const {
  p9::Lock k;
  k.type = (op & LOCK_UN) ? p9::lock_type::kUnlck : (op & LOCK_EX) ? p9::lock_type::kWrlck : p9::lock_type::kRdlck;
  k.start = 0;
  k.length = 0;  // to the end: the whole file
  k.proc_id = static_cast<uint32_t>(owner ^ (owner >> 32));
  k.client_id = lock_client_id_ + ":flock:" + std::to_string(owner);
  return k;
}

void Filesystem::close_lock_fid(uint32_t fid, bool borrowed, p9::Lock k) {
  if (!borrowed) {
    (void)ns_->clunk(fid);  // the server's lock goes with the fid's open file
    return;
  }
  // The I/O fid stays (the data needs it): only the lock goes.
  k.type = p9::lock_type::kUnlck;
  (void)ns_->lock(fid, k, 0);
}

Status Filesystem::setlk(FileHandle& fh, const struct flock& l, uint64_t owner, bool sleep,
                         const std::atomic<bool>* cancel) {
  auto r = to_record(l, owner);
  if (!r.ok()) return r.error();
  auto t = r->type == F_UNLCK ? lock_table_if_any(*fh.node) : lock_table(fh.node);
  if (!t) return ok_status();  // an unlock, and nothing held on this file
  Status st = t->set(*r, sleep, cancel);
  if (st.ok() && r->type != F_UNLCK) {
    std::lock_guard lk(fh.lock_owners_mu);
    if (std::find(fh.lock_owners.begin(), fh.lock_owners.end(), owner) == fh.lock_owners.end())
      fh.lock_owners.push_back(owner);
  }
  return st;
}

void Filesystem::wake_lock_waiters(FileHandle& fh) {
  if (auto t = lock_table_if_any(*fh.node)) t->wake();
}

Result<struct flock> Filesystem::getlk(FileHandle& fh, const struct flock& l, uint64_t owner) {
  auto r = to_record(l, owner);
  if (!r.ok()) return r.error();
  auto t = lock_table(fh.node);
  Node& n = *fh.node;
  auto server_test = [&](short type) -> Result<std::optional<RecordLock>> {
    // Asked only while we hold no server lock, so diod's test (a flock it takes and drops
    // on our fid) finds other clients' locks only.
    auto fid = posix_lock_fid(n);
    if (!fid.ok()) return fid.error();
    auto g = ns_->getlock(*fid, posix_request(type == F_WRLCK ? ServerMode::kWrite : ServerMode::kRead));
    if (!g.ok()) return g.error();
    if (g->type == p9::lock_type::kUnlck) return std::optional<RecordLock>();
    // diod tells neither the holder's range nor its process: the whole file, pid 0.
    RecordLock h;
    h.type = g->type == p9::lock_type::kRdlck ? F_RDLCK : F_WRLCK;
    h.start = 0;
    h.end = kLockEof;
    h.pid = 0;
    return std::optional<RecordLock>(h);
  };
  auto c = t->test(*r, server_test);
  if (!c.ok()) return c.error();
  struct flock out = l;
  out.l_whence = SEEK_SET;
  if (!*c) {
    out.l_type = F_UNLCK;
    return out;
  }
  const RecordLock& h = **c;
  out.l_type = h.type;
  out.l_start = static_cast<off_t>(h.start);
  out.l_len = h.end == kLockEof ? 0 : static_cast<off_t>(h.end - h.start + 1);
  out.l_pid = h.pid;
  return out;
}

Status Filesystem::flock(FileHandle& fh, int op, uint64_t owner, const std::atomic<bool>* cancel) {
  // Held only while the fid is made: a blocked LOCK_EX must not hold up a LOCK_UN of the
  // same open file. The fid lives until release, which no request of the file outlives.
  std::unique_lock lk(fh.flock_mu);
  if (fh.flock_fid == p9::kNoFid) {
    if ((op & ~LOCK_NB) == LOCK_UN) return ok_status();  // nothing held
    auto fid = open_lock_fid(*fh.node);
    if (!fid.ok()) return fid.error();
    fh.flock_fid = fid->fid;
    fh.flock_borrowed = fid->borrowed;
  }
  uint32_t fid = fh.flock_fid;
  fh.flock_owner = owner;
  lk.unlock();
  p9::Lock k = flock_request(op, owner);
  Status st = lock_polled(fid, k, !(op & LOCK_NB), cancel);
  if (!st.ok() && st.errnum() == EAGAIN) return make_error(EWOULDBLOCK, "flock: held elsewhere");
  return st;
}

void Filesystem::wake_flock_waiters() {
  // Under the mutex: a poller that has just checked its flag and is about to wait cannot
  // miss this notification.
  std::lock_guard lk(poll_mu_);
  poll_cv_.notify_all();
}

Result<Filesystem::LockFid> Filesystem::open_lock_fid(Node& n) {
  // Walked from the root along the node's path: the node's fid may be its open I/O fid,
  // which cannot be walked from.
  p9::Path path;
  {
    FidRef r(n);
    auto fi = client_->fids().get(r.fid());
    if (!fi) return make_error(ESTALE, "lock: the file has no fid");
    path = fi->path;
  }
  Error why = make_error(ESTALE, "lock: the name is another file now");
  auto e = ns_->walk(p9::Namespace::root(), path);
  if (e.ok() && e->qid.path != n.qid.path) {
    (void)ns_->clunk(e->fid);
  } else if (e.ok()) {
    auto o = ns_->open(e->fid, O_RDONLY);
    if (o.ok()) return LockFid{e->fid, false};
    (void)ns_->clunk(e->fid);
    why = o.error();
  } else {
    why = e.error();
  }
  // The path leads elsewhere or nowhere (the open file was unlinked, or renamed on the
  // server): the lock goes on the open file itself. A lock request comes through an open
  // file, so the node has its I/O fid.
  uint32_t io;
  {
    std::lock_guard lk(n.io_mu);
    io = n.io_fid;
  }
  if (io == p9::kNoFid) return why;
  // A clone of the I/O fid (a walk of no names), opened read-only, keeps the lock this
  // open file's own; diod names fids by path, so for a file without its name it cannot
  // open the clone, and then the I/O fid itself carries the lock (shared by every open
  // file of this node on the mount: docs/fuse.md).
  auto c = ns_->walk(io, {});
  if (c.ok()) {
    auto o = ns_->open(c->fid, O_RDONLY);
    if (o.ok()) return LockFid{c->fid, false};
    (void)ns_->clunk(c->fid);
  }
  return LockFid{io, true};
}

Status Filesystem::lock_polled(uint32_t fid, const p9::Lock& k, bool sleep, const std::atomic<bool>* cancel) {
  auto backoff = std::chrono::milliseconds(10);
  for (;;) {
    // Never the block flag: diod ignores it, and a server that honoured it would hold the
    // RPC (and this FUSE worker) where no interrupt can end the wait; the poll below can.
    auto s = ns_->lock(fid, k, 0);
    if (!s.ok()) return s.error();
    if (*s == p9::lock_status::kSuccess) return ok_status();
    if (*s == p9::lock_status::kError) return make_error(ENOLCK, "lock: server error");
    if (!sleep) return make_error(EAGAIN, "lock: held by another owner");
    // 9P has no lock callback: poll, as v9fs does, backing off to half a second. The
    // pause ends early when the waiter is interrupted (FUSE_INTERRUPT: a signal, SIGKILL
    // included): a process that has gone must not keep polling, nor be granted the lock.
    {
      std::unique_lock lk(poll_mu_);
      if (poll_cv_.wait_for(lk, backoff, [&] { return cancel && cancel->load(); }))
        return make_error(EINTR, "lock: interrupted");
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
  }
}

}  // namespace netfs::fuse
