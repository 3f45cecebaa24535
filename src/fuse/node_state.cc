// Filesystem: a node's attributes, fids and the engine inode of its data: attaching and
// detaching the I/O side, retiring a node the kernel forgot, giving fids back (FidPool).
#include "fuse/filesystem.h"

#include <fcntl.h>

#include "fuse/internal.h"
#include "netfs/copy_dirty.h"
#include "netfs/inode.h"

namespace netfs::fuse {

Result<std::shared_ptr<Node>> Filesystem::node(uint64_t ino) {
  auto n = table_->get(ino);
  if (!n) return make_error(ESTALE, "fuse: unknown inode");
  return n;
}

void Filesystem::note_use(Node& n) {
  if (uint64_t p = n.parent_ino.load(std::memory_order_relaxed))
    if (auto d = table_->get(p)) d->child_lookups.fetch_add(1, std::memory_order_relaxed);
}

struct stat Filesystem::to_stat(Node& n, const FileAttr& a, bool fresh) {
  struct stat st {};
  st.st_ino = a.id;
  st.st_mode = a.mode & ~opts_.umask;
  st.st_nlink = a.nlink;
  st.st_uid = opts_.uid.value_or(a.uid);
  st.st_gid = opts_.gid.value_or(a.gid);
  st.st_rdev = a.rdev;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blksize = a.blksize ? static_cast<blksize_t>(a.blksize) : 4096;
  st.st_blocks = static_cast<blkcnt_t>(a.blocks);
  st.st_atim = {static_cast<time_t>(a.atime_sec), static_cast<long>(a.atime_nsec)};
  st.st_mtim = {static_cast<time_t>(a.mtime_sec), static_cast<long>(a.mtime_nsec)};
  st.st_ctim = {static_cast<time_t>(a.ctime_sec), static_cast<long>(a.ctime_nsec)};
  // While we hold the file open or hold unwritten data, our size is the truth: the
  // server has not seen our buffered writes yet.
  std::lock_guard lk(n.io_mu);
  if (n.inode && (n.open_count || n.inode->dirty_bytes())) st.st_size = static_cast<off_t>(n.inode->size());
  if (fresh) record_attr_locked(n, a);
  return st;
}

void Filesystem::record_attr_locked(Node& n, const FileAttr& a) {
  n.attr = a;
  n.attr_at = std::chrono::steady_clock::now();
  n.attr_gen = ns_gen_.load();
  n.attr_valid = true;
}

Result<FileAttr> Filesystem::fetch_attr(Node& n) {
  for (int attempt = 0;; attempt++) {
    uint32_t used;
    Result<FileAttr> a = make_error(EIO);
    {
      FidRef r(n);
      NETFS_TRY(r.status());
      used = r.fid();
      a = p9::to_file_attr(ns_->getattr(used));
    }
    // The name the fid was walked along went away, or leads to another file now (another
    // client unlinked or renamed over it): the node's other names may still lead to it.
    bool name_moved = a.ok() ? a->id != n.qid.path : a.errnum() == ENOENT;
    if (!name_moved || attempt || !n.pool || used == p9::Namespace::root()) return a;
    auto fi = client_->fids().get(used);
    if (!fi || fi->open_flags >= 0) return a;  // an open fid answers for its file
    client_->fids().mark_stale(used);
  }
}

void Filesystem::swap_fid(Node& n, uint32_t fid) {
  uint32_t old;
  bool was_io;
  {
    std::unique_lock lk(n.fid_mu);
    old = n.fid;
    was_io = n.fid_is_io;
    n.fid = fid;
    n.fid_is_io = false;
    if (n.pool && fid != p9::kNoFid) n.pool->note_name_locked(n, fid);
  }
  // The I/O fid borrowed as metadata fid stays open for the data; retire clunks it.
  if (!was_io && old != p9::kNoFid && old != p9::Namespace::root()) (void)ns_->clunk(old);
}

Result<EntryReply> Filesystem::enter(Node& parent, std::string_view name, const Caller* made_for) {
  Result<p9::Entry> e = make_error(EIO);
  {
    FidRef r(parent);
    NETFS_TRY(r.status());
    e = ns_->lookup(r.fid(), name);
  }
  if (!e.ok()) return e.error();
  auto pa = ns_->getattr(e->fid);
  if (!pa.ok()) {
    (void)ns_->clunk(e->fid);
    return pa.error();
  }
  FileAttr a = p9::to_file_attr(*pa);
  if (made_for) give_to_caller(e->fid, *made_for, parent, &a);
  bool used = false;
  auto n = table_->add_lookup(pa->qid, e->fid, &used);
  // The fresh fid names the file by its current path; the old one may not (rename).
  if (!used) swap_fid(*n, e->fid);
  n->parent_ino.store(parent.ino, std::memory_order_relaxed);
  fid_pool_->touch(*n);
  EntryReply out{n->ino, to_stat(*n, a)};
  fid_pool_->trim();
  return out;
}

void Filesystem::give_to_caller(uint32_t fid, const Caller& who, Node& parent, FileAttr* a) {
  // Attached as root, the server makes every new file root's: 9P2000.L's create messages
  // carry a gid but no uid. The caller's uid goes on with one setattr, only when it
  // differs: none for root's own creates.
  if (!attached_as_root_) return;
  p9::SetAttr sa;
  if (a->uid != who.uid) sa.valid |= p9::setattr_mask::kUid, sa.uid = who.uid;
  // The gid was sent with the create. Only a server that left the attach user's group
  // (root's) ignored it; but a setgid directory gives its own group, which may be root's
  // too, and stands. The parent's mode is asked for only then (rare: diod honours the
  // gid it is sent); if it cannot be had, the server's choice stands.
  if (a->gid != who.gid && a->gid == 0) {
    Result<p9::Attr> pa = make_error(EIO);
    {
      FidRef r(parent);
      pa = ns_->getattr(r.fid());
    }
    if (pa.ok() && !(pa->mode & S_ISGID)) sa.valid |= p9::setattr_mask::kGid, sa.gid = who.gid;
  }
  if (!sa.valid) return;
  Status st = ns_->setattr(fid, sa);
  if (!st.ok()) {
    // The file exists on the server either way: failing the create would leave it there
    // with the caller told it was not made. It stays the server's choice of owner.
    static std::atomic<bool> logged{false};
    if (!logged.exchange(true))
      fprintf(stderr, "netfs: the server cannot give new files to their creators (%s); they keep its owner\n",
              st.error().message().c_str());
    return;
  }
  // What the server now holds; ctime moved too, but a later getattr brings that.
  if (sa.valid & p9::setattr_mask::kUid) a->uid = sa.uid;
  if (sa.valid & p9::setattr_mask::kGid) a->gid = sa.gid;
}

std::string Filesystem::path_of(Node& n) {
  FidRef r(n);
  auto fi = client_->fids().get(r.fid());
  if (!fi) return "?";
  std::string p;
  for (const auto& c : fi->path) p += "/" + c;
  return p.empty() ? "/" : p;
}

std::string Filesystem::trace_path(uint64_t ino) {
  if (ino == InodeTable::kRootIno) return "/";
  auto n = table_->get(ino);
  if (!n) return {};
  // Unlike path_of, no FidRef: exclusive holders of fid_mu may be walking a fid again
  // from the root, which waits for the server.
  std::shared_lock lk(n->fid_mu, std::try_to_lock);
  if (!lk.owns_lock() || n->names.empty()) return {};
  std::string p;
  for (const auto& c : n->names.front()) p += "/" + c;
  return p;
}

void Filesystem::record_seen_locked(Node& n, const FileAttr& a) {
  // A flush record fetched before this one is older: it must not replace it.
  n.change_gen.fetch_add(1);
  // The cache now vouches for this version of the file, so a remount keeps it.
  if (n.cookie) (void)n.cookie->set_coherency(coherency_of(a));
  n.seen_valid = true;
  n.seen = a.token();
}

std::shared_ptr<cache::StoreCookie> Filesystem::cookie_for(Node& n, const cache::Coherency& c) {
  if (!store_) return nullptr;
  auto r = store_->cookie(url_.to_string(), n.qid.path, c);
  if (!r.ok()) {
    fprintf(stderr, "netfs: cache: cannot open the cache of %s: %s\n", path_of(n).c_str(), r.error().message().c_str());
    return nullptr;
  }
  return *r;
}

void Filesystem::note_io_node_locked(Node& n) {
  std::lock_guard lk(io_nodes_mu_);
  io_nodes_[n.inode.get()] = &n;
}

Status Filesystem::set_size_of(Inode& inode, uint64_t size) {
  Node* n;
  {
    std::lock_guard lk(io_nodes_mu_);
    auto it = io_nodes_.find(&inode);
    if (it == io_nodes_.end()) return make_error(ESTALE, "set_size: the file is no longer attached");
    n = it->second;  // attached, so alive: the truncate's caller holds it
  }
  auto a = fetch_attr(*n);
  if (!a.ok()) return a.error();
  if (a->id != n->qid.path) return make_error(ENOENT, "set_size: no name leads to the file");
  p9::SetAttr sa;
  sa.valid = p9::setattr_mask::kSize;
  sa.size = size;
  FidRef r(*n);
  NETFS_TRY(r.status());
  return ns_->setattr(r.fid(), sa);
}

void Filesystem::detach_io_locked(Node& n) {
  if (n.inode) {
    std::lock_guard lk(io_nodes_mu_);
    io_nodes_.erase(n.inode.get());
  }
  std::shared_ptr<Inode> inode = std::move(n.inode);
  std::shared_ptr<cache::StoreCookie> cookie = std::move(n.cookie);
  if (!cookie) return;
  std::lock_guard lk(parked_mu_);
  std::erase_if(parked_, [](auto& p) { return p.first.expired(); });
  // Requests in flight hold the Inode, and it points at the cookie.
  if (inode && inode.use_count() > 1) parked_.emplace_back(inode, std::move(cookie));
}

Status Filesystem::attach_io_locked(Node& n, const FileAttr& a) {
  uint64_t size = a.size;
  Result<p9::Entry> c = make_error(EIO);
  {
    FidRef r(n);
    NETFS_TRY(r.status());
    c = ns_->walk(r.fid(), {});
  }
  if (!c.ok()) return c.error();
  bool writable = !opts_.read_only;
  auto o = ns_->open(c->fid, writable ? O_RDWR : O_RDONLY);
  if (!o.ok() && writable && open_denied(o.errnum())) {
    writable = false;
    o = ns_->open(c->fid, O_RDONLY);
  }
  if (!o.ok()) {
    (void)ns_->clunk(c->fid);
    return o.error();
  }
  n.io_fid = c->fid;
  n.io_writable = writable;
  if (n.io_evicted) {
    n.io_evicted = false;
    fid_pool_->count_reopened();
  }
  n.cookie = cookie_for(n, coherency_of(a));
  n.inode = engine_->new_inode(*backend_, c->fid, size, n.cookie.get(), n.ino);
  note_io_node_locked(n);
  return ok_status();
}

void Filesystem::log_refusal(Inode& inode, int error) {
  std::string path = "?";
  if (auto fi = client_->fids().get(static_cast<uint32_t>(inode.backend_id()))) {
    path.clear();
    for (const auto& c : fi->path) path += "/" + c;
  }
  if (error)
    fprintf(stderr,
            "netfs: %s: the server refuses its data: %s; %llu bytes stay dirty, tried again with back-off "
            "(and by fsync, close, sync)\n",
            path.c_str(), strerror(error), static_cast<unsigned long long>(inode.dirty_bytes()));
  else
    fprintf(stderr, "netfs: %s: the server takes its data again\n", path.c_str());
}

bool Filesystem::drop_if_deleted(Node& n, Inode& inode) {
  if (!n.deleted.load()) return false;
  uint64_t dropped = netfs::discard(inode);
  if (dropped)
    fprintf(stderr, "netfs: %s was deleted with %llu bytes never written; they are dropped\n", path_of(n).c_str(),
            static_cast<unsigned long long>(dropped));
  return true;
}

void Filesystem::retire(std::shared_ptr<Node> n) {
  std::shared_ptr<Inode> inode;
  uint32_t io_fid;
  {
    std::lock_guard lk(n->io_mu);
    inode = n->inode;
    io_fid = n->io_fid;
  }
  // A deleted file nobody has open: nobody can ever read its dirty data, and the server
  // frees its space only once we let go of its open fid (a full disk stayed full).
  if (inode && drop_if_deleted(*n, *inode)) inode.reset();
  if (inode) {
    // Write-back may still be in flight (the flusher): it needs the I/O fid.
    Errseq::Cursor cur = inode->wb_err().sample();
    Status st = netfs::fsync(*inode, cur);
    if (!st.ok() || inode->dirty_bytes()) {
      std::lock_guard lk(orphans_mu_);
      orphans_.push_back(std::move(n));
      return;
    }
  }
  {
    std::lock_guard lk(n->io_mu);
    detach_io_locked(*n);
    n->io_fid = p9::kNoFid;
  }
  if (io_fid != p9::kNoFid) (void)ns_->clunk(io_fid);
  swap_fid(*n, p9::kNoFid);
  {
    // A retired node can still be reached through a snapshot of the table (refresh_below):
    // with its names it would walk a fresh fid there that nobody clunks again.
    std::unique_lock lk(n->fid_mu);
    n->names.clear();
  }
  fid_pool_->forget(*n);
}

bool Filesystem::release_fids(Node& n) {
  std::unique_lock io(n.io_mu, std::try_to_lock);
  if (!io) return false;
  std::unique_lock f(n.fid_mu, std::try_to_lock);
  if (!f) return false;  // an RPC on it is under way
  // Only the node holds its engine inode: no open file, no request in flight, not on the
  // engine's dirty or copy lists; and no POSIX lock fid (those go with the last release).
  bool io_idle = n.io_fid == p9::kNoFid ||
                 (n.open_count == 0 && n.posix_lock_fid.load() == p9::kNoFid &&
                  (!n.inode || (n.inode.use_count() == 1 && n.inode->dirty_bytes() == 0)));
  uint32_t io_fid = p9::kNoFid, walked = p9::kNoFid;
  if (io_idle && n.io_fid != p9::kNoFid) {
    io_fid = n.io_fid;
    detach_io_locked(n);
    n.io_fid = p9::kNoFid;
    n.io_evicted = true;
  }
  if (n.fid != p9::kNoFid && n.fid != p9::Namespace::root()) {
    if (!n.fid_is_io) {
      walked = n.fid;
      n.fid = p9::kNoFid;
    } else if (n.fid == io_fid) {
      n.fid = p9::kNoFid;  // the I/O fid, clunked once below
      n.fid_is_io = false;
    }
  }
  bool none = n.io_fid == p9::kNoFid && n.fid == p9::kNoFid;
  f.unlock();
  io.unlock();
  for (uint32_t fid : {io_fid, walked}) {
    if (fid == p9::kNoFid) continue;
    (void)ns_->clunk(fid);
    fid_pool_->count_closed(1);
  }
  return none;
}

}  // namespace netfs::fuse
