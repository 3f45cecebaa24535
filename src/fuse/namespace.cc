// Filesystem: namespace operations (lookup, getattr, setattr, create of names, unlink,
// rename, statfs) and extended attributes.
#include "fuse/filesystem.h"

#include <linux/fs.h>
#include <sys/sysmacros.h>

#include <algorithm>

#include "fuse/internal.h"
#include "netfs/inode.h"

namespace netfs::fuse {

Result<EntryReply> Filesystem::lookup(uint64_t parent, std::string_view name) {
  auto p = node(parent);
  if (!p.ok()) return p.error();
  (*p)->child_lookups.fetch_add(1, std::memory_order_relaxed);
  return enter(**p, name);
}

void Filesystem::forget(uint64_t ino, uint64_t nlookup) {
  auto n = table_->get(ino);
  if (auto gone = table_->forget(ino, nlookup)) {
    retire(std::move(gone));
    return;
  }
  if (n) drop_if_deleted_and_unused(n);
}

void Filesystem::drop_if_deleted_and_unused(const std::shared_ptr<Node>& n) {
  // The table keeps a node the kernel forgot while it holds dirty data, for sync and
  // umount to write; a deleted file's data will never be wanted.
  if (!table_->unreferenced(*n)) return;
  std::shared_ptr<Inode> inode;
  {
    std::lock_guard lk(n->io_mu);
    if (n->open_count) return;
    inode = n->inode;
  }
  if (!inode || !drop_if_deleted(*n, *inode)) return;
  if (auto gone = table_->prune(n)) retire(std::move(gone));
}

Result<struct stat> Filesystem::getattr(uint64_t ino) {
  auto n = node(ino);
  if (!n.ok()) return n.error();
  note_use(**n);
  OnExit trimmed{[&] { fid_pool_->trim(); }};  // the fid may have been walked again
  auto a = fetch_attr(**n);
  if (a.ok() && a->id == (*n)->qid.path) return to_stat(**n, *a);
  if (nameless(**n, a)) {
    if (auto st = stat_of_nameless_open(**n)) return *st;
    // The name leads to another file now, or nowhere: ESTALE makes the kernel look the
    // name up again (LOOKUP_REVAL), where the other file's attributes under this inode
    // would be believed, its size set on our cached data.
    return make_error(ESTALE, "getattr");
  }
  if (!a.ok()) return a.error();
  return to_stat(**n, *a);
}

bool Filesystem::nameless(Node& n, const Result<FileAttr>& a) {
  // Only these say so: an unreachable server (ETIMEDOUT, ECONNRESET, ...) says nothing
  // about the file's names.
  if (a.ok()) return a->id != n.qid.path;
  return a.errnum() == ENOENT || a.errnum() == ESTALE;
}

std::optional<struct stat> Filesystem::stat_of_nameless_open(Node& n) {
  FileAttr a;
  {
    std::lock_guard lk(n.io_mu);
    if (!n.open_count || !n.inode || n.attr.id != n.qid.path) return std::nullopt;
    a = n.attr;
  }
  a.nlink = 0;
  return to_stat(n, a, /*fresh=*/false);  // the size is ours: the file is open
}

Result<struct stat> Filesystem::setattr(uint64_t ino, const struct stat& in, int to_set) {
  auto nr = node(ino);
  if (!nr.ok()) return nr.error();
  Node& n = **nr;
  std::shared_ptr<Inode> inode;
  {
    std::lock_guard lk(n.io_mu);
    inode = n.inode;
  }
  // Attributes fetched for a flush record before this change no longer describe the file.
  n.change_gen.fetch_add(1);
  if (to_set & set_attr::kSize) {
    if (n.is_dir()) return make_error(EISDIR, "truncate");
    NETFS_TRY(truncate_node(n, inode.get(), static_cast<uint64_t>(in.st_size)));
  }
  p9::SetAttr sa;
  if (to_set & set_attr::kMode) sa.valid |= p9::setattr_mask::kMode, sa.mode = in.st_mode;
  if (to_set & set_attr::kUid) sa.valid |= p9::setattr_mask::kUid, sa.uid = in.st_uid;
  if (to_set & set_attr::kGid) sa.valid |= p9::setattr_mask::kGid, sa.gid = in.st_gid;
  if (to_set & (set_attr::kAtime | set_attr::kAtimeNow)) {
    sa.valid |= p9::setattr_mask::kAtime;
    if (!(to_set & set_attr::kAtimeNow)) {
      sa.valid |= p9::setattr_mask::kAtimeSet;
      sa.atime_sec = static_cast<uint64_t>(in.st_atim.tv_sec);
      sa.atime_nsec = static_cast<uint64_t>(in.st_atim.tv_nsec);
    }
  }
  if (to_set & (set_attr::kMtime | set_attr::kMtimeNow)) {
    sa.valid |= p9::setattr_mask::kMtime;
    if (!(to_set & set_attr::kMtimeNow)) {
      sa.valid |= p9::setattr_mask::kMtimeSet;
      sa.mtime_sec = static_cast<uint64_t>(in.st_mtim.tv_sec);
      sa.mtime_nsec = static_cast<uint64_t>(in.st_mtim.tv_nsec);
    }
    // Data written back later would move the mtime again (tar, cp -p, rsync set it last).
    if (inode && inode->dirty_bytes()) {
      WritebackControl wbc;
      wbc.sync = true;
      auto w = writepages(*inode, wbc);
      if (!w.ok()) return w.error();
    }
  }
  if (to_set & set_attr::kCtime) sa.valid |= p9::setattr_mask::kCtime;
  if (sa.valid) {
    FidRef r(n);
    NETFS_TRY(r.status());
    Status st = ns_->setattr(r.fid(), sa);
    if (!st.ok()) return st.error();
  }
  auto a = fetch_attr(n);
  if (!a.ok()) return a.error();
  if (inode && (to_set & (set_attr::kSize | set_attr::kMtime | set_attr::kMtimeNow))) {
    std::lock_guard lk(n.io_mu);
    if (!inode->dirty_bytes()) record_seen_locked(n, *a);
  }
  return to_stat(n, *a);
}

Status Filesystem::truncate_node(Node& n, Inode* inode, uint64_t size) {
  n.change_gen.fetch_add(1);
  n.attr_valid = false;
  // Cached granules past the new end go before the truncate and again after it: the
  // flusher may copy a folio it finds there to the cache until the engine drops it.
  auto drop_tail = [&] {
    if (cache::Cookie* c = inode ? inode->cookie() : nullptr)
      c->drop_range(size, UINT64_MAX - size);
  };
  drop_tail();
  Status st = inode ? netfs::truncate(*inode, size) : [&]() -> Status {
    p9::SetAttr sa;
    sa.valid = p9::setattr_mask::kSize;
    sa.size = size;
    FidRef r(n);
    NETFS_TRY(r.status());
    return ns_->setattr(r.fid(), sa);
  }();
  drop_tail();
  return st;
}

Status Filesystem::apply_open_flags(FileHandle& fh, bool server_truncated) {
  if (!(fh.flags & O_TRUNC)) return ok_status();
  if (fh.inode->size() != 0) return truncate_node(*fh.node, fh.inode.get(), 0);
  if (server_truncated) return ok_status();
  // An empty file: no size to cut, but open(O_TRUNC) still marks it modified (POSIX),
  // which a truncate to the same size would not do on the server.
  fh.node->attr_valid = false;
  p9::SetAttr sa;
  sa.valid = p9::setattr_mask::kMtime | p9::setattr_mask::kCtime;
  FidRef r(*fh.node);
  NETFS_TRY(r.status());
  return ns_->setattr(r.fid(), sa);
}

Result<Filesystem::Opened> Filesystem::finish_open(Result<Opened> o, bool server_truncated) {
  if (!o.ok()) return o;
  if (Status st = apply_open_flags(*o->fh, server_truncated); !st.ok()) {
    release(o->fh);
    return st.error();
  }
  return o;
}

Result<std::string> Filesystem::readlink(uint64_t ino) {
  auto n = node(ino);
  if (!n.ok()) return n.error();
  OnExit trimmed{[&] { fid_pool_->trim(); }};  // after the FidRef below lets go
  FidRef r(**n);
  NETFS_TRY(r.status());
  return ns_->readlink(r.fid());
}

// mknod, mkdir and symlink: make the entry in the parent's directory fid, then look it up
// as the kernel's new entry; the parent's listing changed either way.
Result<EntryReply> Filesystem::make_entry(uint64_t parent, std::string_view name, const Caller& who,
                                          const std::function<Status(uint32_t dir_fid)>& make) {
  auto p = node(parent);
  if (!p.ok()) return p.error();
  OnExit touched{[&] { listing_changed(**p); }};
  {
    FidRef r(**p);
    NETFS_TRY(r.status());
    NETFS_TRY(make(r.fid()));
  }
  return enter(**p, name, &who);
}

Result<EntryReply> Filesystem::mknod(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev,
                                     const Caller& who) {
  return make_entry(parent, name, who, [&](uint32_t dir) -> Status {
    auto q = ns_->mknod(dir, name, mode, major(rdev), minor(rdev), who.gid);
    return q.ok() ? ok_status() : Status(q.error());
  });
}

Result<EntryReply> Filesystem::mkdir(uint64_t parent, std::string_view name, mode_t mode, const Caller& who) {
  return make_entry(parent, name, who, [&](uint32_t dir) -> Status {
    auto q = ns_->mkdir(dir, name, mode & 07777, who.gid);
    return q.ok() ? ok_status() : Status(q.error());
  });
}

Result<EntryReply> Filesystem::symlink(uint64_t parent, std::string_view name, std::string_view target,
                                       const Caller& who) {
  return make_entry(parent, name, who, [&](uint32_t dir) -> Status {
    auto q = ns_->symlink(dir, name, target, who.gid);
    return q.ok() ? ok_status() : Status(q.error());
  });
}

Result<EntryReply> Filesystem::link(uint64_t ino, uint64_t newparent, std::string_view name) {
  auto n = node(ino);
  if (!n.ok()) return n.error();
  auto p = node(newparent);
  if (!p.ok()) return p.error();
  OnExit touched{[&] { listing_changed(**p); }};
  {
    FidPair f(**p, **n);
    NETFS_TRY(f.status());
    Status st = ns_->link(f.first(), f.second(), name);
    if (!st.ok()) return st.error();
  }
  return enter(**p, name);
}

Status Filesystem::unlink(uint64_t parent, std::string_view name) {
  auto p = node(parent);
  if (!p.ok()) return p.error();
  OnExit touched{[&] { listing_changed(**p); }};
  // A file of ours with unwritten data under that name, and its last name: once it is
  // gone, the data goes at the last close (drop_if_deleted). Asked before the unlink,
  // since diod answers a fid by its path, which the unlink ends.
  std::shared_ptr<Node> doomed = dirty_node_named(**p, name);
  if (doomed) {
    auto a = fetch_attr(*doomed);
    if (!a.ok() || a->nlink != 1) doomed.reset();
  }
  FidRef r(**p);
  NETFS_TRY(r.status());
  NETFS_TRY(ns_->unlink(r.fid(), name));
  // A node that knew the file by this name must now use another of its names (hard links).
  fid_pool_->name_gone(r.fid(), name);
  if (doomed) doomed->deleted.store(true);
  return ok_status();
}

std::shared_ptr<Node> Filesystem::dirty_node_named(Node& dir, std::string_view name) {
  std::optional<p9::FidInfo> d;
  {
    FidRef r(dir);
    if (!r.status().ok()) return nullptr;
    d = client_->fids().get(r.fid());
  }
  if (!d) return nullptr;
  p9::Path want = d->path;
  want.emplace_back(name);
  // Only files with dirty data matter, and there are few: no RPC, no walk of the table
  // unless one of them has that name.
  for (auto& inode : engine_->dirty_inodes()) {
    auto fi = client_->fids().get(static_cast<uint32_t>(inode->backend_id()));
    if (!fi || fi->path != want) continue;
    for (auto& n : table_->all()) {
      std::lock_guard lk(n->io_mu);
      if (n->inode == inode) return n;
    }
  }
  return nullptr;
}

Status Filesystem::rmdir(uint64_t parent, std::string_view name) {
  auto p = node(parent);
  if (!p.ok()) return p.error();
  OnExit touched{[&] { listing_changed(**p); }};
  FidRef r(**p);
  NETFS_TRY(r.status());
  NETFS_TRY(ns_->rmdir(r.fid(), name));
  fid_pool_->name_gone(r.fid(), name);
  return ok_status();
}

Status Filesystem::rename(uint64_t parent, std::string_view name, uint64_t newparent, std::string_view newname,
                          unsigned flags) {
  if (flags & RENAME_EXCHANGE) return make_error(EINVAL, "rename: 9P2000.L has no exchange");
  if (flags & ~unsigned(RENAME_NOREPLACE)) return make_error(EINVAL, "rename: unknown flag");
  auto p = node(parent);
  if (!p.ok()) return p.error();
  auto np = node(newparent);
  if (!np.ok()) return np.error();
  OnExit touched{[&] {
    listing_changed(**p);
    if (*np != *p) listing_changed(**np);
  }};
  if (flags & RENAME_NOREPLACE) {
    FidRef r(**np);
    auto e = ns_->lookup(r.fid(), newname);
    if (e.ok()) {
      (void)ns_->clunk(e->fid);
      return make_error(EEXIST, "rename: target exists");
    }
    if (e.errnum() != ENOENT) return e.error();
  }
  p9::Path from;
  {
    FidPair f(**p, **np);
    NETFS_TRY(f.status());
    if (auto fi = client_->fids().get(f.first())) from = fi->path, from.emplace_back(name);
    NETFS_TRY(ns_->rename(f.first(), name, f.second(), newname));
  }
  // diod names fids by path: give the moved node a fid that names its new place, and,
  // for a directory, every node we know below it.
  auto moved = enter(**np, newname);
  {
    // A file the new name led to before is not reached through it any more.
    FidRef rn(**np);
    if (rn.status().ok()) fid_pool_->name_gone(rn.fid(), newname, moved.ok() ? moved->attr.st_ino : UINT64_MAX);
  }
  if (!moved.ok()) return ok_status();
  if (S_ISDIR(moved->attr.st_mode)) {
    auto top = table_->get(moved->ino);
    p9::Path prefix;
    if (top) {
      FidRef r(*top);
      if (auto fi = client_->fids().get(r.fid())) prefix = fi->path;
    }
    if (!prefix.empty() && !from.empty()) refresh_below(from, prefix);
  }
  forget(moved->ino, 1);
  return ok_status();
}

void Filesystem::refresh_below(const p9::Path& from, const p9::Path& prefix) {
  for (auto& n : table_->all()) {
    FidPool::rename_names(*n, from, prefix);
    p9::Path path;
    {
      // Not a FidRef: a node without a fid walks one along its (moved) names when used.
      std::shared_lock r(n->fid_mu);
      if (n->fid == p9::kNoFid || n->fid == p9::Namespace::root()) continue;
      auto fi = client_->fids().get(n->fid);
      if (!fi || fi->path.size() <= prefix.size() || !std::equal(prefix.begin(), prefix.end(), fi->path.begin()))
        continue;
      path = fi->path;  // already moved by the client's FidTable
    }
    auto e = ns_->walk(p9::Namespace::root(), path);
    if (!e.ok()) continue;
    if (e->qid.path != n->qid.path) {
      (void)ns_->clunk(e->fid);
      continue;
    }
    swap_fid(*n, e->fid);
  }
}

Result<struct statvfs> Filesystem::statfs() {
  auto s = ns_->statfs(p9::Namespace::root());
  if (!s.ok()) return s.error();
  struct statvfs v {};
  v.f_bsize = s->bsize;
  v.f_frsize = s->bsize;
  v.f_blocks = s->blocks;
  v.f_bfree = s->bfree;
  v.f_bavail = s->bavail;
  v.f_files = s->files;
  v.f_ffree = s->ffree;
  v.f_favail = s->ffree;
  v.f_fsid = s->fsid;
  v.f_namemax = s->namelen;
  return v;
}

Result<p9::Bytes> Filesystem::getxattr(uint64_t ino, std::string_view name) {
  auto n = node(ino);
  if (!n.ok()) return n.error();
  OnExit trimmed{[&] { fid_pool_->trim(); }};  // after the FidRef below lets go
  note_use(**n);
  FidRef r(**n);
  NETFS_TRY(r.status());
  return ns_->getxattr(r.fid(), name);
}

Result<std::vector<std::string>> Filesystem::listxattr(uint64_t ino) {
  auto n = node(ino);
  if (!n.ok()) return n.error();
  OnExit trimmed{[&] { fid_pool_->trim(); }};  // after the FidRef below lets go
  FidRef r(**n);
  NETFS_TRY(r.status());
  return ns_->listxattr(r.fid());
}

Status Filesystem::setxattr(uint64_t ino, std::string_view name, const void* value, size_t size, int flags) {
  auto n = node(ino);
  if (!n.ok()) return n.error();
  FidRef r(**n);
  NETFS_TRY(r.status());
  return ns_->setxattr(r.fid(), name, p9::ByteSpan(static_cast<const std::byte*>(value), size),
                       static_cast<uint32_t>(flags));
}

Status Filesystem::removexattr(uint64_t ino, std::string_view name) {
  auto n = node(ino);
  if (!n.ok()) return n.error();
  FidRef r(**n);
  NETFS_TRY(r.status());
  // A removal of a name that is not there is ENODATA on Linux; the 9P idiom cannot tell.
  auto cur = ns_->getxattr(r.fid(), name);
  if (!cur.ok()) return cur.error();
  return ns_->removexattr(r.fid(), name);
}

}  // namespace netfs::fuse
