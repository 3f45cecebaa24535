// Filesystem: open, create, read, write, close (flush), release and fsync of files, with
// close-to-open coherency (docs/fuse.md).
#include "fuse/filesystem.h"

#include <sys/file.h>

#include "fuse/internal.h"
#include "netfs/inode.h"
#include "netfs/read.h"

namespace netfs::fuse {

Result<Filesystem::Opened> Filesystem::open(uint64_t ino, int flags) {
  auto nr = node(ino);
  if (!nr.ok()) return nr.error();
  Node& n = **nr;
  if (n.is_dir()) return make_error(EISDIR, "open");
  bool want_write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  if (want_write && opts_.read_only) return make_error(EROFS, "open");
  // Uploads of ours that land after this sample may be beyond the size the getattr
  // reports: revalidate then keeps zero_point above them.
  LandedSample landed;
  {
    std::lock_guard lk(n.io_mu);
    if (n.inode) landed = {n.inode.get(), n.inode->landed_seq()};
  }
  // Close-to-open: every open asks the server whether the file changed.
  auto a = fetch_attr(n);
  if (nameless(n, a)) {
    if (auto o = open_nameless(*nr, flags)) return finish_open(std::move(*o));
    return make_error(ESTALE, "open");  // as in getattr: the kernel looks the name up again
  }
  if (!a.ok()) return a.error();
  auto o = finish_open(open_node(*nr, flags, *a, landed));
  fid_pool_->trim();
  return o;
}

std::optional<Result<Filesystem::Opened>> Filesystem::open_nameless(const std::shared_ptr<Node>& n, int flags) {
  std::lock_guard lk(n->io_mu);
  if (!n->open_count || !n->inode) return std::nullopt;
  // No name leads to the file, so the server has nothing to compare with (close-to-open);
  // it is the file the other openers have, with our cache of it.
  bool want_write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  if (want_write && !n->io_writable) return Result<Opened>(make_error(EACCES, "open: the server allows only reading"));
  Opened out;
  out.fh = new_handle_locked(n, flags);
  out.direct_io = out.fh->direct;
  out.keep_cache = true;
  return Result<Opened>(out);
}

Result<Filesystem::Opened> Filesystem::open_node(const std::shared_ptr<Node>& nr, int flags, const FileAttr& attr,
                                                 LandedSample landed) {
  Node& n = *nr;
  const FileAttr* a = &attr;
  bool want_write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  Opened out;
  std::lock_guard lk(n.io_mu);
  if (want_write && n.inode && !n.io_writable && n.open_count == 0 && !n.inode->dirty_bytes()) {
    // Opened read-only before; nothing depends on that fid now: reopen read-write.
    (void)ns_->clunk(n.io_fid);
    detach_io_locked(n);
    n.io_fid = p9::kNoFid;
  }
  if (!n.inode) {
    NETFS_TRY(attach_io_locked(n, *a));
  } else {
    adopt_flush_record_locked(n);
    bool changed = !n.seen_valid || a->token() != n.seen;
    if (changed)
      revalidate(*n.inode, a->size, true, landed.inode == n.inode.get() ? landed.seq : kLandedSeqUnknown);
    out.keep_cache = !changed;
  }
  if (want_write && !n.io_writable) return make_error(EACCES, "open: the server allows only reading");
  if (!n.inode->dirty_bytes()) record_seen_locked(n, *a);
  out.fh = new_handle_locked(nr, flags);
  out.direct_io = out.fh->direct;
  return out;
}

FileHandle* Filesystem::new_handle_locked(const std::shared_ptr<Node>& n, int flags) {
  auto* fh = new FileHandle;
  fh->node = n;
  fh->inode = n->inode;
  fh->flags = flags;
  fh->direct = opts_.direct_io || (flags & O_DIRECT);
  fh->wb_cursor = n->inode->wb_err().sample();
  n->open_count++;
  return fh;
}

Result<std::pair<EntryReply, Filesystem::Opened>> Filesystem::create(uint64_t parent, std::string_view name,
                                                                     mode_t mode, int flags, const Caller& who) {
  if (opts_.read_only) return make_error(EROFS, "create");
  auto p = node(parent);
  if (!p.ok()) return p.error();
  OnExit touched{[&] { listing_changed(**p); }};
  // The I/O fid is read-write whatever this open asked for: later opens share it.
  uint32_t sflags = O_CREAT | O_RDWR | (flags & (O_EXCL | O_TRUNC));
  Result<p9::Created> c = make_error(EIO);
  {
    FidRef r(**p);
    NETFS_TRY(r.status());
    c = ns_->create(r.fid(), name, sflags, mode & 07777, who.gid);
  }
  if (!c.ok()) return c.error();
  // The open fid answers getattr (and setattr): no walk to the new name, and these
  // attributes are also what open would fetch, so none is fetched twice.
  auto pa = ns_->getattr(c->fid);
  if (!pa.ok()) {
    (void)ns_->clunk(c->fid);
    return pa.error();
  }
  FileAttr a = p9::to_file_attr(*pa);
  give_to_caller(c->fid, who, **p, &a);
  // O_TRUNC stays: Tlcreate cut the server's file, but a file we already knew may have
  // cached and dirty data of ours to cut too (apply_open_flags).
  flags &= ~(O_CREAT | O_EXCL);
  bool used = false;
  auto n = table_->add_lookup(pa->qid, c->fid, &used, /*fid_is_io=*/true);
  n->parent_ino.store(parent, std::memory_order_relaxed);
  fid_pool_->touch(*n);
  // Open by now (or failed): the pool keeps its I/O fid.
  OnExit trimmed{[&] { fid_pool_->trim(); }};
  // Opens n as any open would, with these attributes.
  auto open_as_any = [&]() -> Result<std::pair<EntryReply, Opened>> {
    auto o = finish_open(open_node(n, flags, a), /*server_truncated=*/true);
    if (!o.ok()) {
      forget(n->ino, 1);
      return o.error();
    }
    return std::make_pair(EntryReply{n->ino, to_stat(*n, a)}, *o);
  };
  if (used) {
    // A node new to us: the created fid is its I/O fid and, until a lookup gives it a
    // walked one, its metadata fid (Node::fid_is_io). What we just created needs no
    // close-to-open check.
    std::unique_lock lk(n->io_mu);
    if (!n->inode) {
      attach_created_io_locked(*n, c->fid, a.size);
      record_seen_locked(*n, a);
      Opened out;
      out.fh = new_handle_locked(n, flags);
      out.direct_io = out.fh->direct;
      lk.unlock();
      auto o = finish_open(out, /*server_truncated=*/true);
      if (!o.ok()) {
        forget(n->ino, 1);
        return o.error();
      }
      return std::make_pair(EntryReply{n->ino, to_stat(*n, a)}, *o);
    }
    // The node was visible from add_lookup on (readdirplus hands out known nodes), and
    // an open of it got here first with an I/O fid of its own. The created fid stays
    // the metadata fid as an ordinary one (clunked when it is swapped or retired), and
    // this create opens the node as any open would.
    lk.unlock();
    bool kept;
    {
      std::unique_lock f(n->fid_mu);
      kept = n->fid == c->fid;
      if (kept) n->fid_is_io = false;
    }
    // A lookup swapped a walked fid in meanwhile and left this one to the I/O side,
    // which does not have it.
    if (!kept) (void)ns_->clunk(c->fid);
    return open_as_any();
  }
  // A node we know (the name was made by someone else between the kernel's lookup and
  // this create, without O_EXCL): open it as any open would, with these attributes.
  {
    std::lock_guard lk(n->io_mu);
    if (!n->inode) {
      attach_created_io_locked(*n, c->fid, a.size);
      c->fid = p9::kNoFid;
    }
  }
  if (c->fid != p9::kNoFid) (void)ns_->clunk(c->fid);  // the file was already open here
  return open_as_any();
}

void Filesystem::attach_created_io_locked(Node& n, uint32_t fid, uint64_t size) {
  n.io_fid = fid;
  n.io_writable = true;
  // Created (or truncated) here: whatever the cache held under this qid is not it.
  n.cookie = cookie_for(n, cache::Coherency{});
  n.inode = engine_->new_inode(*backend_, fid, size, n.cookie.get(), n.ino);
  note_io_node_locked(n);
}

Result<size_t> Filesystem::read(FileHandle& fh, uint64_t off, void* buf, size_t len) {
  if (fh.direct) return unbuffered_read(*fh.inode, off, buf, len);
  std::lock_guard lk(fh.ra_mu);
  return buffered_read(*fh.inode, fh.ra, off, buf, len);
}

Result<size_t> Filesystem::write(FileHandle& fh, uint64_t off, const void* buf, size_t len) {
  if ((fh.flags & O_ACCMODE) == O_RDONLY) return make_error(EBADF, "write on a read-only handle");
  fh.wrote = true;
  fh.node->attr_valid = false;  // size and mtime are moving
  fh.node->change_gen.fetch_add(1, std::memory_order_relaxed);  // a flush record fetched before is stale
  // The engine may not copy these bytes to the cache (a partial folio it never read), so
  // the cached granules under them go now, before the write can be seen.
  if (cache::Cookie* c = fh.inode->cookie()) c->drop_range(off, len);
  if (fh.direct) return unbuffered_write(*fh.inode, off, buf, len);
  return perform_write(*fh.inode, off, buf, len, WriteMode::kWriteBack);
}

Status Filesystem::flush(FileHandle& fh, uint64_t lock_owner) {
  Status st = flush_data(fh);
  // After the write-back: whoever gets the lock next (here or on another client) must find
  // what was written under it on the server.
  if (auto t = lock_table_if_any(*fh.node)) t->release_owner(lock_owner);
  {
    std::lock_guard lk(fh.lock_owners_mu);
    std::erase(fh.lock_owners, lock_owner);
  }
  return st;
}

Status Filesystem::flush_data(FileHandle& fh) {
  if ((fh.flags & O_ACCMODE) == O_RDONLY && !fh.wrote) return ok_status();
  Inode& inode = *fh.inode;
  // Nothing written through this handle and nothing dirty: this close sends nothing, so
  // what we last agreed with the server still stands (open(O_CREAT)+close, `touch`).
  bool sends = fh.wrote || inode.dirty_bytes() > 0;
  Status st;
  {
    std::lock_guard lk(fh.cursor_mu);
    st = netfs::fsync(inode, fh.wb_cursor);
  }
  if (!st.ok()) return st;
  if (!sends) return ok_status();
  // What the server now holds is ours: remember it so our own write does not look like
  // somebody else's change at the next open.
  bool cached;
  {
    std::lock_guard lk(fh.node->io_mu);
    cached = fh.node->cookie != nullptr;
  }
  if (!cached) {
    // Sent now, right after the write-back, so the server answers for the same moment a
    // synchronous getattr would; the closer does not wait for the answer (issue 7: one
    // round trip less per close).
    record_after_flush(fh.node, inode.size());
    return ok_status();
  }
  // With a local cache the record also vouches for the cached data on disk (the cookie's
  // coherency data, which a remount checks): it must be written by the time close
  // returns, not left to an open that may never come before the unmount.
  auto a = fetch_attr(*fh.node);
  if (a.ok()) {
    std::lock_guard lk(fh.node->io_mu);
    if (!inode.dirty_bytes()) {
      record_seen_locked(*fh.node, *a);
      record_attr_locked(*fh.node, *a);
    }
  }
  return ok_status();
}

void Filesystem::record_after_flush(const std::shared_ptr<Node>& n, uint64_t size) {
  // This fetch supersedes any still in flight; a write or a record after this moves the
  // generation again and makes its answer stale.
  const uint64_t gen = n->change_gen.fetch_add(1) + 1;
  std::weak_ptr<Node> wn = n;
  auto done = [wn, gen, size](Result<p9::Reply> r) {
    // On the client's I/O thread (also at teardown, with ESHUTDOWN): no RPC, no io_mu.
    if (!r.ok()) return;  // no record: the next open compares with the older one
    auto g = p9::decode<p9::msg::Rgetattr>(r->body);
    auto n = wn.lock();
    if (!g.ok() || !n) return;
    // The fid was the node's when sent; should it have been clunked and its number
    // reused meanwhile, the answer is another file's.
    FileAttr a = p9::to_file_attr(g->attr);
    if (a.id != n->qid.path) return;
    // Close has returned, so another client told "done" may already have changed the
    // file: an answer of another size is surely not (only) ours. (A same-size overwrite
    // within one round trip of our close is the window this leaves; docs/fuse.md.)
    if (a.size != size) return;
    std::lock_guard lk(n->flush_rec_mu);
    if (n->change_gen.load() != gen) return;
    n->flush_rec = a;
    n->flush_rec_gen = gen;
    n->flush_rec_ready = true;
  };
  FidRef r(*n);  // held while the call is queued: the fid is not clunked before it
  if (!r.status().ok()) return;  // no name leads to the file: no record to make
  auto m = p9::encode(p9::msg::Tgetattr{r.fid(), p9::getattr_mask::kBasic});
  if (!m.ok()) return;
  // kFail: resent after a reconnect it would answer for a much later moment, when other
  // clients' changes are likely; without an answer the next open just compares as usual.
  client_->call(std::move(*m), p9::MsgType::kRgetattr, p9::Replay::kFail, std::move(done));
}

void Filesystem::adopt_flush_record_locked(Node& n) {
  FileAttr a;
  {
    std::lock_guard lk(n.flush_rec_mu);
    if (!n.flush_rec_ready) return;
    n.flush_rec_ready = false;
    if (n.flush_rec_gen != n.change_gen.load()) return;
    a = n.flush_rec;
  }
  // Unwritten data would make the server's attributes not ours yet.
  if (n.inode && !n.inode->dirty_bytes()) record_seen_locked(n, a);
}

void Filesystem::release(FileHandle* fh) {
  auto n = fh->node;
  // Closing the server's file drops its flock, as the last close of an open file does.
  // Before open_count goes down: a borrowed flock fid is the I/O fid, clunked only when
  // no file is open.
  if (fh->flock_fid != p9::kNoFid)
    close_lock_fid(fh->flock_fid, fh->flock_borrowed, flock_request(LOCK_UN, fh->flock_owner));
  std::shared_ptr<LockTable> t;
  uint32_t posix_fid = p9::kNoFid;
  bool posix_borrowed = false;
  bool last = false;
  {
    std::lock_guard lk(n->io_mu);
    t = n->posix_locks;
    if (n->open_count == 1) {
      last = true;
      // No open file is left, so no owner may hold a POSIX lock; the next lock makes a
      // new table and fid.
      n->posix_locks.reset();
      posix_borrowed = n->posix_lock_borrowed.load();
      posix_fid = n->posix_lock_fid.exchange(p9::kNoFid);
      if (posix_fid != p9::kNoFid && posix_borrowed) {
        // A borrowed lock fid is the I/O fid: unlocked here, with io_mu held and before
        // open_count reaches 0. At 0 a FORGET may retire the node (or an open reopen it
        // read-write) and clunk that fid, whose number the client may then give to
        // another file, which would lose its lock to this unlock; and io_mu keeps a new
        // open's lock, which would borrow the same fid, from coming before it.
        close_lock_fid(posix_fid, true, posix_request(ServerMode::kNone));
        posix_fid = p9::kNoFid;
      }
    }
    --n->open_count;
  }
  if (t) {
    // Owners that locked through this open file and never closed it (OFD locks, owned by
    // the open file itself; a lost flush) lose their locks with it.
    std::vector<uint64_t> owners;
    {
      std::lock_guard lk(fh->lock_owners_mu);
      owners.swap(fh->lock_owners);
    }
    if (last) {
      t->drop_all();  // no server call: the fid's clunk below drops the server's lock
    } else {
      for (uint64_t owner : owners) t->release_owner(owner);
    }
  }
  // The server's lock goes with the fid's open file (diod: its file descriptor); a fid of
  // its own, so no one else clunks it meanwhile.
  if (posix_fid != p9::kNoFid) close_lock_fid(posix_fid, posix_borrowed, posix_request(ServerMode::kNone));
  delete fh;
  // A node the kernel forgot while the file was open (FORGET can come before the
  // asynchronous RELEASE) leaves now, as forget would have let it: written back, then
  // its fids clunked and its engine inode dropped.
  if (auto gone = table_->prune(n)) {
    retire(std::move(gone));
    fid_pool_->trim();
    return;
  }
  drop_if_deleted_and_unused(n);
  fid_pool_->trim();  // its fids may be given back now
}

Status Filesystem::fsync(FileHandle& fh, bool datasync) {
  {
    std::lock_guard lk(fh.cursor_mu);
    NETFS_TRY(netfs::fsync(*fh.inode, fh.wb_cursor));
  }
  uint32_t fid;
  {
    std::lock_guard lk(fh.node->io_mu);
    fid = fh.node->io_fid;
  }
  return ns_->fsync(fid, datasync);
}

}  // namespace netfs::fuse
