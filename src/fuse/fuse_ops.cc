#include "fuse/fuse_ops.h"

#include <sys/file.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "fuse/filesystem.h"
#include "netfs/cancel.h"

namespace netfs::fuse {

namespace {

Filesystem& fs_of(fuse_req_t req) { return *static_cast<Filesystem*>(fuse_req_userdata(req)); }
FileHandle& fh_of(fuse_file_info* fi) { return *reinterpret_cast<FileHandle*>(fi->fh); }

void reply_entry(fuse_req_t req, const Result<EntryReply>& r) {
  if (!r.ok()) {
    fuse_reply_err(req, r.errnum());
    return;
  }
  const MountOptions& o = fs_of(req).options();
  fuse_entry_param e{};
  e.ino = r->ino;
  e.attr = r->attr;
  e.attr_timeout = o.attr_timeout;
  e.entry_timeout = o.entry_timeout;
  // A failed reply means the kernel did not take the reference: give it back.
  if (fuse_reply_entry(req, &e) == -ENOENT) fs_of(req).forget(r->ino, 1);
}

void reply_attr(fuse_req_t req, const Result<struct stat>& r) {
  if (!r.ok()) {
    fuse_reply_err(req, r.errnum());
    return;
  }
  fuse_reply_attr(req, &*r, fs_of(req).options().attr_timeout);
}

void reply_status(fuse_req_t req, const Status& s) { fuse_reply_err(req, s.ok() ? 0 : s.errnum()); }

// An operation that may wait as long as the server is away ends with EINTR when its
// caller gets a signal (SIGKILL included, which the kernel would otherwise wait out in D
// state): the kernel sends FUSE_INTERRUPT, libfuse runs on_cancel on another worker, and
// the engine's waits watch the Cancel this thread installs (include/netfs/cancel.h).
void on_cancel(fuse_req_t, void* data) { static_cast<Cancel*>(data)->request(); }

template <typename Call>
auto cancellable(fuse_req_t req, Call&& call) {
  Cancel cancel;
  Cancel::Scope scope(cancel);
  fuse_req_interrupt_func(req, on_cancel, &cancel);  // runs at once if already interrupted
  auto r = call();
  fuse_req_interrupt_func(req, nullptr, nullptr);  // as in interruptible() below
  // A 9P call given up at the signal fails with ECANCELED; the caller sees EINTR.
  if (!r.ok() && r.errnum() == ECANCELED && cancel.requested()) return decltype(r)(make_error(EINTR, "interrupted"));
  return r;
}

Caller caller(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  return Caller{c->uid, c->gid};
}

void op_init(void* userdata, fuse_conn_info* conn) {
  // The engine buffers and writes back; the kernel's own write-back cache would only hold
  // a second copy and decide the file size on its own (docs/fuse.md).
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // Close-to-open decides when cached pages go (keep_cache at open), not every getattr.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  // POSIX locks are ours to arbitrate (the node's LockTable), with one server lock per
  // file for all local owners; without this the kernel would keep them local to the mount
  // and no other client would see them.
  if (conn->capable & FUSE_CAP_POSIX_LOCKS) conn->want |= FUSE_CAP_POSIX_LOCKS;
  // flock(2) goes to the server as a whole-file Tlock on a fid of the open file's own
  // (Filesystem::flock).
  if (conn->capable & FUSE_CAP_FLOCK_LOCKS) conn->want |= FUSE_CAP_FLOCK_LOCKS;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  // Always readdirplus: we decide per entry what it carries (Filesystem::readdirplus), so
  // the kernel's own switching to plain readdir adds nothing.
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  conn->max_readahead = 1u << 20;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  reply_entry(req, cancellable(req, [&] { return fs_of(req).lookup(parent, name); }));
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  fs_of(req).forget(ino, nlookup);
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; i++) fs_of(req).forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  reply_attr(req, cancellable(req, [&] { return fs_of(req).getattr(ino); }));
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  reply_attr(req, cancellable(req, [&] { return fs_of(req).setattr(ino, *attr, to_set); }));
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  auto r = cancellable(req, [&] { return fs_of(req).readlink(ino); });
  if (!r.ok()) return (void)fuse_reply_err(req, r.errnum());
  fuse_reply_readlink(req, r->c_str());
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  reply_entry(req, fs_of(req).mknod(parent, name, mode, rdev, caller(req)));
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  reply_entry(req, fs_of(req).mkdir(parent, name, mode, caller(req)));
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) { reply_status(req, fs_of(req).unlink(parent, name)); }
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) { reply_status(req, fs_of(req).rmdir(parent, name)); }

void op_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  reply_entry(req, fs_of(req).symlink(parent, name, link, caller(req)));
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
               unsigned flags) {
  reply_status(req, fs_of(req).rename(parent, name, newparent, newname, flags));
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  reply_entry(req, fs_of(req).link(ino, newparent, newname));
}

void fill_open(fuse_file_info* fi, const Filesystem::Opened& o) {
  fi->fh = reinterpret_cast<uint64_t>(o.fh);
  fi->keep_cache = o.keep_cache;
  fi->direct_io = o.direct_io;
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto r = fs_of(req).open(ino, fi->flags);
  if (!r.ok()) return (void)fuse_reply_err(req, r.errnum());
  fill_open(fi, *r);
  if (fuse_reply_open(req, fi) == -ENOENT) fs_of(req).release(r->fh);  // the opener was interrupted
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  auto r = fs_of(req).create(parent, name, mode, fi->flags, caller(req));
  if (!r.ok()) return (void)fuse_reply_err(req, r.errnum());
  const MountOptions& o = fs_of(req).options();
  fuse_entry_param e{};
  e.ino = r->first.ino;
  e.attr = r->first.attr;
  e.attr_timeout = o.attr_timeout;
  e.entry_timeout = o.entry_timeout;
  fill_open(fi, r->second);
  if (fuse_reply_create(req, &e, fi) == -ENOENT) {
    fs_of(req).release(r->second.fh);
    fs_of(req).forget(e.ino, 1);
  }
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  std::vector<char> buf(size);
  auto r = cancellable(req, [&] { return fs_of(req).read(fh_of(fi), static_cast<uint64_t>(off), buf.data(), size); });
  if (!r.ok()) return (void)fuse_reply_err(req, r.errnum());
  fuse_reply_buf(req, buf.data(), *r);
}

void op_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  auto r = cancellable(req, [&] { return fs_of(req).write(fh_of(fi), static_cast<uint64_t>(off), buf, size); });
  if (!r.ok()) return (void)fuse_reply_err(req, r.errnum());
  fuse_reply_write(req, *r);
}

// fi->lock_owner is the closing process's (libfuse fills it for FLUSH): its POSIX locks
// on the file go, which is how a FUSE filesystem learns of close(2) for locks (the
// kernel's locks_remove_posix sends no unlock for locks it left to us).
void op_flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  reply_status(req, cancellable(req, [&] { return fs_of(req).flush(fh_of(fi), fi->lock_owner); }));
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  fs_of(req).release(&fh_of(fi));
  fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  reply_status(req, cancellable(req, [&] { return fs_of(req).fsync(fh_of(fi), datasync != 0); }));
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto r = cancellable(req, [&] { return fs_of(req).opendir(ino); });
  if (!r.ok()) return (void)fuse_reply_err(req, r.errnum());
  fi->fh = reinterpret_cast<uint64_t>(*r);
  if (fuse_reply_open(req, fi) == -ENOENT) fs_of(req).releasedir(*r);
}

void op_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  auto* dh = reinterpret_cast<DirHandle*>(fi->fh);
  std::vector<char> buf(size);
  size_t used = 0;
  // Offset n means "continue after the n-th entry".
  for (size_t i = static_cast<size_t>(off); i < dh->entries.size(); i++) {
    const p9::Dirent& d = dh->entries[i];
    struct stat st {};
    st.st_ino = d.qid.path;
    st.st_mode = static_cast<mode_t>(d.type) << 12;
    size_t n = fuse_add_direntry(req, buf.data() + used, size - used, d.name.c_str(), &st,
                                 static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  auto* dh = reinterpret_cast<DirHandle*>(fi->fh);
  Filesystem& fs = fs_of(req);
  // How many entries fit: every one takes the same room, with attributes or without.
  size_t first = static_cast<size_t>(off), count = 0, room = 0;
  for (size_t i = first; i < dh->entries.size(); i++) {
    size_t n = fuse_add_direntry_plus(req, nullptr, 0, dh->entries[i].name.c_str(), nullptr, 0);
    if (room + n > size) break;
    room += n;
    count++;
  }
  std::vector<EntryReply> got = fs.readdirplus(*dh, first, count);
  const MountOptions& o = fs.options();
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t k = 0; k < count; k++) {
    const p9::Dirent& d = dh->entries[first + k];
    fuse_entry_param e{};
    if (got[k].ino) {
      e.ino = got[k].ino;
      e.attr = got[k].attr;
      e.attr_timeout = o.attr_timeout;
      e.entry_timeout = o.entry_timeout;
    } else {
      // ino 0: the kernel lists the name and instantiates nothing.
      e.attr.st_ino = d.qid.path;
      e.attr.st_mode = static_cast<mode_t>(d.type) << 12;
    }
    used += fuse_add_direntry_plus(req, buf.data() + used, size - used, d.name.c_str(), &e,
                                   static_cast<off_t>(first + k + 1));
  }
  // Not delivered (the reader was interrupted): the kernel took none of the references.
  if (fuse_reply_buf(req, buf.data(), used) != 0)
    for (const auto& g : got)
      if (g.ino) fs.forget(g.ino, 1);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  fs_of(req).releasedir(reinterpret_cast<DirHandle*>(fi->fh));
  fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  // Directory changes are synchronous RPCs: by the time they returned the server had them.
  fuse_reply_err(req, 0);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
  auto r = cancellable(req, [&] { return fs_of(req).statfs(); });
  if (!r.ok()) return (void)fuse_reply_err(req, r.errnum());
  fuse_reply_statfs(req, &*r);
}

// File capabilities are not kept on netfs. The kernel asks for this attribute before every
// write(2) (to strip it); answering here keeps a server round trip off the write path.
bool is_capability(const char* name) { return std::strcmp(name, "security.capability") == 0; }

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  if (is_capability(name)) return (void)fuse_reply_err(req, EOPNOTSUPP);
  reply_status(req, fs_of(req).setxattr(ino, name, value, size, flags));
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  if (is_capability(name)) return (void)fuse_reply_err(req, ENODATA);
  auto r = cancellable(req, [&] { return fs_of(req).getxattr(ino, name); });
  if (!r.ok()) return (void)fuse_reply_err(req, r.errnum());
  if (size == 0) return (void)fuse_reply_xattr(req, r->size());
  if (r->size() > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, reinterpret_cast<const char*>(r->data()), r->size());
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto r = cancellable(req, [&] { return fs_of(req).listxattr(ino); });
  if (!r.ok()) return (void)fuse_reply_err(req, r.errnum());
  std::string all;
  for (const auto& n : *r) {
    all += n;
    all.push_back('\0');
  }
  if (size == 0) return (void)fuse_reply_xattr(req, all.size());
  if (all.size() > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, all.data(), all.size());
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  reply_status(req, fs_of(req).removexattr(ino, name));
}

void op_getlk(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, struct flock* lock) {
  auto r = fs_of(req).getlk(fh_of(fi), *lock, fi->lock_owner);
  if (!r.ok()) return (void)fuse_reply_err(req, r.errnum());
  fuse_reply_lock(req, &*r);
}

// A blocking lock request waits holding this worker: F_SETLKW in the lock table, a
// blocking flock polling the server (Filesystem::lock_polled). A signal to the waiting
// process (`flock -w`'s alarm, SIGKILL) makes the kernel send FUSE_INTERRUPT: libfuse
// calls on_interrupt on another worker, which sets the flag and runs `wake`, and the wait
// ends with EINTR (a dead waiter would otherwise sit in D state, or keep polling, until
// the lock came free).
struct InterruptWait {
  std::function<void()> wake;
  std::atomic<bool> interrupted{false};
};

void on_interrupt(fuse_req_t, void* data) {
  auto* w = static_cast<InterruptWait*>(data);
  w->interrupted.store(true);
  w->wake();
}

// call(&flag) with FUSE_INTERRUPT of req setting the flag and running wake.
template <typename Call>
Status interruptible(fuse_req_t req, std::function<void()> wake, Call&& call) {
  InterruptWait w{std::move(wake)};
  fuse_req_interrupt_func(req, on_interrupt, &w);  // runs at once if already interrupted
  Status st = call(&w.interrupted);
  // libfuse calls the function under the request's lock, which this takes too: after it
  // returns, no call with &w is running or can start.
  fuse_req_interrupt_func(req, nullptr, nullptr);
  return st;
}

void op_setlk(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, struct flock* lock, int sleep) {
  Filesystem& fs = fs_of(req);
  FileHandle& fh = fh_of(fi);
  if (!sleep) return reply_status(req, fs.setlk(fh, *lock, fi->lock_owner, false));
  reply_status(req, interruptible(req, [&] { fs.wake_lock_waiters(fh); }, [&](const std::atomic<bool>* cancel) {
                 return fs.setlk(fh, *lock, fi->lock_owner, true, cancel);
               }));
}

void op_flock(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, int op) {
  Filesystem& fs = fs_of(req);
  FileHandle& fh = fh_of(fi);
  if ((op & LOCK_NB) || (op & LOCK_UN)) return reply_status(req, fs.flock(fh, op, fi->lock_owner));
  reply_status(req, interruptible(req, [&] { fs.wake_flock_waiters(); }, [&](const std::atomic<bool>* cancel) {
                 return fs.flock(fh, op, fi->lock_owner, cancel);
               }));
}

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops o{};
  o.init = op_init;
  o.lookup = op_lookup;
  o.forget = op_forget;
  o.forget_multi = op_forget_multi;
  o.getattr = op_getattr;
  o.setattr = op_setattr;
  o.readlink = op_readlink;
  o.mknod = op_mknod;
  o.mkdir = op_mkdir;
  o.unlink = op_unlink;
  o.rmdir = op_rmdir;
  o.symlink = op_symlink;
  o.rename = op_rename;
  o.link = op_link;
  o.open = op_open;
  o.create = op_create;
  o.read = op_read;
  o.write = op_write;
  o.flush = op_flush;
  o.release = op_release;
  o.fsync = op_fsync;
  o.opendir = op_opendir;
  o.readdir = op_readdir;
  o.readdirplus = op_readdirplus;
  o.releasedir = op_releasedir;
  o.fsyncdir = op_fsyncdir;
  o.statfs = op_statfs;
  o.setxattr = op_setxattr;
  o.getxattr = op_getxattr;
  o.listxattr = op_listxattr;
  o.removexattr = op_removexattr;
  o.getlk = op_getlk;
  o.setlk = op_setlk;
  o.flock = op_flock;
  return o;
}

}  // namespace

const fuse_lowlevel_ops& lowlevel_ops() {
  static const fuse_lowlevel_ops ops = make_ops();
  return ops;
}

}  // namespace netfs::fuse
