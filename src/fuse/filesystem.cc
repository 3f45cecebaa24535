#include "fuse/filesystem.h"

#include "netfs/copy_dirty.h"

#include <linux/fs.h>
#include <netdb.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>

#include "fuse/dir_listing.h"
#include "netfs/inode.h"
#include "netfs/read.h"
#include "netfs/stats.h"
#include "p9/session_setup.h"

namespace netfs::fuse {

namespace {

// Errors that mean "this open mode is not allowed", so a read-only fid will do.
bool open_denied(int e) { return e == EACCES || e == EPERM || e == EROFS || e == ETXTBSY; }

// Runs f when the scope ends, on every return path.
template <typename F>
struct OnExit {
  F f;
  ~OnExit() { f(); }
};
template <typename F>
OnExit(F) -> OnExit<F>;

}  // namespace

// A few threads for blocking Namespace calls that should overlap (readdirplus fetches
// the attributes of a batch of entries at once instead of one round trip after another).
class TaskPool {
 public:
  explicit TaskPool(unsigned threads) {
    for (unsigned i = 0; i < threads; i++) threads_.emplace_back([this] { loop(); });
  }
  ~TaskPool() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // Runs every task, on the pool and on the calling thread; returns when all are done.
  void run_all(std::vector<std::function<void()>>& tasks) {
    const size_t n = tasks.size();
    if (n == 0) return;
    struct Batch {
      std::atomic<size_t> next{0};
      std::mutex mu;
      std::condition_variable cv;
      size_t done = 0;
    };
    auto b = std::make_shared<Batch>();
    std::function<void()>* t = tasks.data();
    // A helper that starts after the batch is over finds next >= n and touches nothing
    // but the batch, which it keeps alive.
    auto work = [b, t, n] {
      size_t did = 0;
      for (size_t i; (i = b->next.fetch_add(1)) < n; did++) t[i]();
      if (!did) return;
      std::lock_guard lk(b->mu);
      b->done += did;
      if (b->done == n) b->cv.notify_all();
    };
    size_t helpers = std::min(n - 1, threads_.size());
    {
      std::lock_guard lk(mu_);
      for (size_t i = 0; i < helpers; i++) queue_.push_back(work);
    }
    for (size_t i = 0; i < helpers; i++) cv_.notify_one();
    work();
    std::unique_lock lk(b->mu);
    b->cv.wait(lk, [&] { return b->done == n; });
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_
      auto f = std::move(queue_.front());
      queue_.pop_front();
      lk.unlock();
      f();
      lk.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// p9::Backend with the size set as Filesystem::set_size_of says.
class FileBackend final : public p9::Backend {
 public:
  FileBackend(p9::Client& c, Filesystem& fs) : p9::Backend(c), fs_(fs) {}
  Status set_size(Inode& inode, uint64_t size) override { return fs_.set_size_of(inode, size); }

 private:
  Filesystem& fs_;
};

Filesystem::Filesystem(const RemoteUrl& url, const MountOptions& opts)
    : url_(url), opts_(opts), attached_as_root_(opts.uname == "root") {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  lock_client_id_ = std::string("netfs@") + host;
}

Result<std::unique_ptr<Filesystem>> Filesystem::connect(const RemoteUrl& url, const MountOptions& opts,
                                                        std::string* why) {
  std::unique_ptr<Filesystem> fs(new Filesystem(url, opts));
  Options eo;
  eo.writeback_delay = opts.writeback_delay;
  eo.dirty_limit = opts.dirty_limit;
  eo.max_retries = opts.retries;
  eo.memory_limit = opts.memory;
  eo.readahead_max = opts.readahead_max;
  eo.worker_threads = 4;
  fs->engine_ = std::make_unique<Engine>(eo);
  if (!opts.cache_dir.empty()) {
    cache::StoreOptions so;
    so.dir = opts.cache_dir;
    so.size_limit = opts.cache_size;
    so.min_free = opts.cache_min_free;
    auto st = cache::Store::open(so);
    if (!st.ok()) {
      if (why) *why = "cannot use cache_dir " + opts.cache_dir + ": " + st.error().message();
      return st.error();
    }
    fs->store_ = std::move(*st);
  }

  // Each step on its own, so that the message names the one that failed: the name
  // lookup, the connect, the 9P version handshake, the attach (refused, or the server
  // wants authentication).
  const std::string server = url.endpoint.to_string();
  if (url.endpoint.kind == p9::Endpoint::Kind::kTcp) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = getaddrinfo(url.endpoint.host.c_str(), nullptr, &hints, &res); rc != 0) {
      if (why) *why = "cannot resolve host name '" + url.endpoint.host + "': " + gai_strerror(rc);
      return make_error(rc == EAI_SYSTEM ? errno : EHOSTUNREACH, "name lookup");
    }
    freeaddrinfo(res);
  }
  auto probe = p9::connect_endpoint(url.endpoint, std::chrono::milliseconds(5000));
  if (!probe.ok()) {
    if (why) *why = "cannot reach 9P server at " + server + ": connect: " + strerror(probe.error().errnum);
    return probe.error();
  }
  ::close(*probe);

  p9::ClientOptions co;
  co.endpoint = url.endpoint;
  co.aname = url.export_path;
  co.uname = opts.uname;
  co.auth = opts.auth == "munge" ? p9::Auth::kMunge : opts.auth == "none" ? p9::Auth::kNone : p9::Auth::kAuto;
  // A numeric user is a uid: sent as n_uname too, which .L servers prefer (and diod
  // without a user database, -N, needs). A name is left to the server's user database.
  auto uid = numeric_uname(opts.uname);
  if (!uid.ok()) {
    if (why) *why = "uname '" + opts.uname + "' is a number beyond any uid (at most 4294967294)";
    return uid.error();
  }
  if (*uid) co.n_uname = **uid;
  co.msize = opts.msize;
  co.connections = opts.conns;
  co.rpc_timeout = opts.timeout;
  co.engine_stats = &fs->engine_->stats();
  auto c = p9::Client::connect(co);
  if (!c.ok()) {
    const Error& e = c.error();
    std::string err = strerror(e.errnum);
    if (!why) {
    } else if (e.context == p9::kAuthRequired) {
      *why = "9P server at " + server + " requires authentication (diod without -n) and auth=none was asked: " +
             "attach refused: " + err;
    } else if (e.context == p9::kMungeUnavailable) {
      *why = "9P server at " + server + " requires authentication, and no MUNGE credential could be made " +
             "(is munged running here, with the server's key?): " + err;
    } else if (e.context == p9::kAuthRejected) {
      *why = "9P server at " + server + " rejected our MUNGE authentication as user '" + opts.uname +
             "' (a different munge key, or the credential's uid is not the attach user's): " + err;
    } else if (e.context == p9::kAttachRefused) {
      *why = "9P server at " + server + " refused export '" + url.export_path + "' (attach as user '" + opts.uname +
             "'): " + err;
    } else {
      *why = "9P session setup with " + server + " failed (version handshake and attach): " + e.message();
    }
    return e;
  }
  fs->client_ = std::move(*c);
  fs->ns_ = std::make_unique<p9::Namespace>(*fs->client_);
  fs->backend_ = std::make_unique<FileBackend>(*fs->client_, *fs);

  auto rootq = fs->ns_->getattr(p9::Namespace::root());
  if (!rootq.ok()) {
    if (why) *why = "cannot stat the export's root: " + rootq.error().message();
    return rootq.error();
  }
  if (!(rootq->qid.type & p9::qid_type::kDir)) {
    if (why) *why = "export '" + url.export_path + "' is not a directory";
    return make_error(ENOTDIR, "export root");
  }
  auto root = std::make_shared<Node>();
  root->qid = rootq->qid;
  root->fid = p9::Namespace::root();
  root->names.emplace_back();  // the export root itself
  Filesystem* self = fs.get();
  fs->fid_pool_ = std::make_unique<FidPool>(*fs->ns_, *fs->client_, opts.max_fids,
                                            [self](Node& n) { return self->release_fids(n); });
  fs->table_ = std::make_unique<InodeTable>(std::move(root), fs->fid_pool_.get());
  fs->engine_->set_refusal_hook([raw = fs.get()](Inode& i, int err) { raw->log_refusal(i, err); });
  fs->flusher_ = std::make_unique<Flusher>(*fs->engine_);
  fs->pool_ = std::make_unique<TaskPool>(8);
  // Data an earlier daemon of this export could not write goes first, before any file is
  // served.
  fs->replay_spool();
  return fs;
}

Filesystem::~Filesystem() {
  // One more try to write everything; what still cannot be written goes to the spool,
  // never silently away (issue 15, finding 5).
  if (table_ && !sync_all().empty()) spool_unwritten();
  flusher_.reset();
  if (engine_) engine_->set_refusal_hook(nullptr);  // it names files through client_
  pool_.reset();
  // Engine inodes go before the engine; fids die with the client.
  orphans_.clear();
  table_.reset();
  fid_pool_.reset();
  ns_.reset();
  // The client before the Backend: destroying it fails what is still in flight with
  // ESHUTDOWN (its lanes' opens included), and those completions run closures that use
  // the Backend (and the engine, destroyed after both).
  client_.reset();
  backend_.reset();
  engine_.reset();
  parked_.clear();
  store_.reset();
}

// ---------------------------------------------------------------- helpers

Result<std::shared_ptr<Node>> Filesystem::node(uint64_t ino) {
  auto n = table_->get(ino);
  if (!n) return make_error(ESTALE, "fuse: unknown inode");
  return n;
}

void Filesystem::note_use(Node& n) {
  if (uint64_t p = n.parent_ino.load(std::memory_order_relaxed))
    if (auto d = table_->get(p)) d->child_lookups.fetch_add(1, std::memory_order_relaxed);
}

struct stat Filesystem::to_stat(Node& n, const p9::Attr& a, bool fresh) {
  struct stat st {};
  st.st_ino = a.qid.path;
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

void Filesystem::record_attr_locked(Node& n, const p9::Attr& a) {
  n.attr = a;
  n.attr_at = std::chrono::steady_clock::now();
  n.attr_gen = ns_gen_.load();
  n.attr_valid = true;
}

Result<p9::Attr> Filesystem::fetch_attr(Node& n) {
  for (int attempt = 0;; attempt++) {
    uint32_t used;
    Result<p9::Attr> a = make_error(EIO);
    {
      FidRef r(n);
      NETFS_TRY(r.status());
      used = r.fid();
      a = ns_->getattr(used);
    }
    // The name the fid was walked along went away, or leads to another file now (another
    // client unlinked or renamed over it): the node's other names may still lead to it.
    bool name_moved = a.ok() ? a->qid.path != n.qid.path : a.errnum() == ENOENT;
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
  auto a = ns_->getattr(e->fid);
  if (a.ok() && made_for) give_to_caller(e->fid, *made_for, parent, &*a);
  if (!a.ok()) {
    (void)ns_->clunk(e->fid);
    return a.error();
  }
  bool used = false;
  auto n = table_->add_lookup(a->qid, e->fid, &used);
  // The fresh fid names the file by its current path; the old one may not (rename).
  if (!used) swap_fid(*n, e->fid);
  n->parent_ino.store(parent.ino, std::memory_order_relaxed);
  fid_pool_->touch(*n);
  EntryReply out{n->ino, to_stat(*n, *a)};
  fid_pool_->trim();
  return out;
}

void Filesystem::give_to_caller(uint32_t fid, const Caller& who, Node& parent, p9::Attr* a) {
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

namespace {

cache::Coherency coherency_of(const p9::Attr& a) {
  return cache::Coherency{a.qid.version, a.mtime_sec, a.mtime_nsec, a.size};
}

}  // namespace

void Filesystem::record_seen_locked(Node& n, const p9::Attr& a) {
  // A flush record fetched before this one is older: it must not replace it.
  n.change_gen.fetch_add(1);
  // The cache now vouches for this version of the file, so a remount keeps it.
  if (n.cookie) (void)n.cookie->set_coherency(coherency_of(a));
  n.seen_valid = true;
  n.seen_version = a.qid.version;
  n.seen_size = a.size;
  n.seen_mtime_sec = a.mtime_sec;
  n.seen_mtime_nsec = a.mtime_nsec;
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
  if (a->qid.path != n->qid.path) return make_error(ENOENT, "set_size: no name leads to the file");
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

Status Filesystem::attach_io_locked(Node& n, const p9::Attr& a) {
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
  n.inode = engine_->new_inode(*backend_, c->fid, size, n.cookie.get());
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

// ---------------------------------------------------------------- namespace

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
  if (a.ok() && a->qid.path == (*n)->qid.path) return to_stat(**n, *a);
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

bool Filesystem::nameless(Node& n, const Result<p9::Attr>& a) {
  // Only these say so: an unreachable server (ETIMEDOUT, ECONNRESET, ...) says nothing
  // about the file's names.
  if (a.ok()) return a->qid.path != n.qid.path;
  return a.errnum() == ENOENT || a.errnum() == ESTALE;
}

std::optional<struct stat> Filesystem::stat_of_nameless_open(Node& n) {
  p9::Attr a;
  {
    std::lock_guard lk(n.io_mu);
    if (!n.open_count || !n.inode || n.attr.qid.path != n.qid.path) return std::nullopt;
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
      static_cast<cache::StoreCookie*>(c)->drop_range(size, UINT64_MAX - size);
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

Result<EntryReply> Filesystem::mknod(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev,
                                     const Caller& who) {
  auto p = node(parent);
  if (!p.ok()) return p.error();
  OnExit touched{[&] { listing_changed(**p); }};
  {
    FidRef r(**p);
    NETFS_TRY(r.status());
    auto q = ns_->mknod(r.fid(), name, mode, major(rdev), minor(rdev), who.gid);
    if (!q.ok()) return q.error();
  }
  return enter(**p, name, &who);
}

Result<EntryReply> Filesystem::mkdir(uint64_t parent, std::string_view name, mode_t mode, const Caller& who) {
  auto p = node(parent);
  if (!p.ok()) return p.error();
  OnExit touched{[&] { listing_changed(**p); }};
  {
    FidRef r(**p);
    NETFS_TRY(r.status());
    auto q = ns_->mkdir(r.fid(), name, mode & 07777, who.gid);
    if (!q.ok()) return q.error();
  }
  return enter(**p, name, &who);
}

Result<EntryReply> Filesystem::symlink(uint64_t parent, std::string_view name, std::string_view target,
                                       const Caller& who) {
  auto p = node(parent);
  if (!p.ok()) return p.error();
  OnExit touched{[&] { listing_changed(**p); }};
  {
    FidRef r(**p);
    NETFS_TRY(r.status());
    auto q = ns_->symlink(r.fid(), name, target, who.gid);
    if (!q.ok()) return q.error();
  }
  return enter(**p, name, &who);
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

// ---------------------------------------------------------------- files

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

Result<Filesystem::Opened> Filesystem::open_node(const std::shared_ptr<Node>& nr, int flags, const p9::Attr& attr,
                                                 LandedSample landed) {
  Node& n = *nr;
  const p9::Attr* a = &attr;
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
    bool changed = !n.seen_valid || a->qid.version != n.seen_version || a->size != n.seen_size ||
                   a->mtime_sec != n.seen_mtime_sec || a->mtime_nsec != n.seen_mtime_nsec;
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
  auto a = ns_->getattr(c->fid);
  if (a.ok()) give_to_caller(c->fid, who, **p, &*a);
  if (!a.ok()) {
    (void)ns_->clunk(c->fid);
    return a.error();
  }
  // O_TRUNC stays: Tlcreate cut the server's file, but a file we already knew may have
  // cached and dirty data of ours to cut too (apply_open_flags).
  flags &= ~(O_CREAT | O_EXCL);
  bool used = false;
  auto n = table_->add_lookup(a->qid, c->fid, &used, /*fid_is_io=*/true);
  n->parent_ino.store(parent, std::memory_order_relaxed);
  fid_pool_->touch(*n);
  // Open by now (or failed): the pool keeps its I/O fid.
  OnExit trimmed{[&] { fid_pool_->trim(); }};
  // Opens n as any open would, with these attributes.
  auto open_as_any = [&]() -> Result<std::pair<EntryReply, Opened>> {
    auto o = finish_open(open_node(n, flags, *a), /*server_truncated=*/true);
    if (!o.ok()) {
      forget(n->ino, 1);
      return o.error();
    }
    return std::make_pair(EntryReply{n->ino, to_stat(*n, *a)}, *o);
  };
  if (used) {
    // A node new to us: the created fid is its I/O fid and, until a lookup gives it a
    // walked one, its metadata fid (Node::fid_is_io). What we just created needs no
    // close-to-open check.
    std::unique_lock lk(n->io_mu);
    if (!n->inode) {
      attach_created_io_locked(*n, c->fid, a->size);
      record_seen_locked(*n, *a);
      Opened out;
      out.fh = new_handle_locked(n, flags);
      out.direct_io = out.fh->direct;
      lk.unlock();
      auto o = finish_open(out, /*server_truncated=*/true);
      if (!o.ok()) {
        forget(n->ino, 1);
        return o.error();
      }
      return std::make_pair(EntryReply{n->ino, to_stat(*n, *a)}, *o);
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
      attach_created_io_locked(*n, c->fid, a->size);
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
  n.inode = engine_->new_inode(*backend_, fid, size, n.cookie.get());
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
  if (cache::Cookie* c = fh.inode->cookie()) static_cast<cache::StoreCookie*>(c)->drop_range(off, len);
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
    if (g->attr.qid.path != n->qid.path) return;
    // Close has returned, so another client told "done" may already have changed the
    // file: an answer of another size is surely not (only) ours. (A same-size overwrite
    // within one round trip of our close is the window this leaves; docs/fuse.md.)
    if (g->attr.size != size) return;
    std::lock_guard lk(n->flush_rec_mu);
    if (n->change_gen.load() != gen) return;
    n->flush_rec = g->attr;
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
  p9::Attr a;
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

// ---------------------------------------------------------------- directories

Result<DirHandle*> Filesystem::opendir(uint64_t ino) {
  auto n = node(ino);
  if (!n.ok()) return n.error();
  if (!(*n)->is_dir()) return make_error(ENOTDIR, "opendir");
  auto all = listing_of(*n);
  if (!all.ok()) return all.error();
  auto* dh = new DirHandle;
  dh->node = *n;
  dh->entries = std::move(*all);
  // Were the entries' attributes wanted after the last listing (`ls -l`, not `ls`)? Then
  // readdirplus fetches them now, in parallel, instead of the kernel asking one by one.
  uint64_t used = (*n)->child_lookups.exchange(0, std::memory_order_relaxed);
  dh->fetch_attrs = used >= std::max<uint64_t>(2, dh->entries.size() / 4);
  return dh;
}

std::vector<EntryReply> Filesystem::readdirplus(DirHandle& dh, size_t first, size_t count) {
  std::vector<EntryReply> out(count);
  std::vector<std::function<void()>> fetches;
  const auto now = std::chrono::steady_clock::now();
  const auto ttl = std::chrono::duration<double>(opts_.attr_timeout);
  for (size_t i = 0; i < count && first + i < dh.entries.size(); i++) {
    const p9::Dirent& d = dh.entries[first + i];
    // The kernel takes no reference for these two.
    if (d.name == "." || d.name == "..") continue;
    auto n = table_->ref_by_qid(d.qid);
    if (n) {
      p9::Attr a;
      bool fresh;
      {
        std::lock_guard lk(n->io_mu);
        fresh = n->attr_valid && n->attr_gen == ns_gen_.load() && now - n->attr_at < ttl;
        a = n->attr;
      }
      if (fresh) {
        out[i] = EntryReply{n->ino, to_stat(*n, a, /*fresh=*/false)};
        continue;
      }
      if (!dh.fetch_attrs) {
        forget(n->ino, 1);
        continue;
      }
      // The listing says this name is this file: its own fid answers for it.
      fetches.emplace_back([this, &out, i, n] {
        auto a = fetch_attr(*n);
        if (a.ok() && a->qid.path == n->qid.path)
          out[i] = EntryReply{n->ino, to_stat(*n, *a)};
        else
          forget(n->ino, 1);
        fid_pool_->trim();  // the fetch may have walked a fid again
      });
    } else if (dh.fetch_attrs) {
      fetches.emplace_back([this, &out, &dh, i, name = d.name] {
        auto e = enter(*dh.node, name);
        if (e.ok()) out[i] = *e;  // a name that went away since the listing: name only
      });
    }
  }
  pool_->run_all(fetches);
  return out;
}

Result<std::vector<p9::Dirent>> Filesystem::fetch_listing(Node& n) {
  listings_fetched_.fetch_add(1, std::memory_order_relaxed);
  FidRef r(n);
  NETFS_TRY(r.status());
  return ns_->readdir_all(r.fid());
}

namespace {

// The listing blob of c, or an error when it is absent, incomplete or not a listing.
Result<std::vector<p9::Dirent>> load_listing(cache::StoreCookie& c) {
  std::byte hdr[kListingHeader];
  auto r = c.read_bytes(0, hdr, sizeof hdr);
  if (!r.ok()) return r.error();
  if (*r != sizeof hdr) return make_error(ENODATA, "listing header cut short");
  auto h = decode_listing_header(hdr, sizeof hdr);
  if (!h.ok()) return h.error();
  std::vector<std::byte> payload(h->payload_len);
  if (!payload.empty()) {
    auto p = c.read_bytes(kListingHeader, payload.data(), payload.size());
    if (!p.ok()) return p.error();
    if (*p != payload.size()) return make_error(ENODATA, "listing cut short");
  }
  return decode_listing_payload(*h, payload.data(), payload.size());
}

}  // namespace

// Directory listings as single objects (docs/cache.md): the cookie is used directly,
// not through the engine's read_single/write_single. A listing has no server-side
// object to write back, and the engine would also keep it as folios in memory, which
// the DirHandle already does; what we need from the cache is exactly read_bytes and
// write_bytes of one small blob.
Result<std::vector<p9::Dirent>> Filesystem::listing_of(const std::shared_ptr<Node>& n) {
  if (!store_) return fetch_listing(*n);
  uint64_t gen;
  {
    std::lock_guard lk(n->io_mu);
    gen = n->listing_gen;
  }
  // The attributes first: a listing read after them is at least as new as they say, so
  // storing it under them can only make the next check miss, never serve it stale.
  auto a = fetch_attr(*n);
  if (!a.ok()) return a.error();
  cache::Coherency now = coherency_of(*a);
  std::shared_ptr<cache::StoreCookie> c;
  {
    std::lock_guard lk(n->io_mu);
    if (n->listing) {
      n->listing->check_coherency(now);
    } else {
      auto r = store_->cookie(listing_server(), n->qid.path, now);
      if (r.ok()) n->listing = *r;
    }
    n->listing_may_hold = true;
    c = n->listing;
  }
  cache::StoreStats& stats = store_->stats();
  if (c) {
    auto hit = load_listing(*c);
    if (hit.ok()) {
      cache::add(stats.listing_hits);
      return hit;
    }
  }
  cache::add(stats.listing_misses);
  auto all = fetch_listing(*n);
  if (!all.ok() || !c) return all;
  // Stored on the Store's writer thread: the fdatasync must not delay the opendir.
  auto blob = std::make_shared<std::vector<std::byte>>(encode_listing(*all));
  std::weak_ptr<Node> wn = n;
  store_->submit([wn, c, gen, now, blob, &stats] {
    auto d = wn.lock();
    if (!d) return;
    // Under io_mu so that a change in the directory (listing_changed) comes wholly
    // before this store (and then the generation differs) or wholly after it.
    std::lock_guard lk(d->io_mu);
    if (d->listing_gen != gen || d->listing != c) return;
    c->check_coherency(now);
    c->drop_range(0, UINT64_MAX);
    if (!c->write_bytes(0, blob->data(), blob->size(), blob->size()).ok()) return;
    if (c->set_coherency(now).ok()) cache::add(stats.listing_stores);
    d->listing_may_hold = true;
  });
  return all;
}

void Filesystem::listing_changed(Node& d) {
  // Link counts, directory times and sizes moved: no cached attribute is trusted now.
  ns_gen_.fetch_add(1);
  if (!store_) return;
  std::lock_guard lk(d.io_mu);
  d.listing_gen++;
  if (d.listing) {
    if (d.listing_may_hold) d.listing->invalidate();
  } else if (!d.listing_absent) {
    if (store_->has_object(listing_server(), d.qid.path)) {
      // Left by an earlier mount: opening it under empty coherency data empties it.
      auto r = store_->cookie(listing_server(), d.qid.path, cache::Coherency{});
      if (r.ok()) d.listing = *r;
    } else {
      // Only an opendir creates one, and it sets d.listing: no need to look again.
      d.listing_absent = true;
    }
  }
  d.listing_may_hold = false;
}

void Filesystem::releasedir(DirHandle* dh) { delete dh; }

// ---------------------------------------------------------------- xattrs and locks

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

// ---------------------------------------------------------------- control

std::vector<UnwrittenFile> Filesystem::sync_all() {
  std::vector<std::shared_ptr<Node>> nodes = table_->all();
  const size_t known = nodes.size();
  {
    std::lock_guard lk(orphans_mu_);
    nodes.insert(nodes.end(), orphans_.begin(), orphans_.end());
  }
  std::vector<UnwrittenFile> failed;
  for (size_t i = 0; i < nodes.size(); i++) {
    auto& n = nodes[i];
    std::shared_ptr<Inode> inode;
    {
      std::lock_guard lk(n->io_mu);
      inode = n->inode;
    }
    if (!inode) continue;
    // An orphan (forgotten, unopened) whose file has been deleted since.
    if (i >= known && drop_if_deleted(*n, *inode)) continue;
    Errseq::Cursor cur = inode->wb_err().sample();
    Status st = netfs::fsync(*inode, cur);
    uint64_t left = inode->dirty_bytes();
    if (!st.ok() || left) failed.push_back({path_of(*n), left, st.ok() ? EIO : st.errnum()});
  }
  // Orphans whose data is now written can let go of their fids.
  std::vector<std::shared_ptr<Node>> done;
  {
    std::lock_guard lk(orphans_mu_);
    for (auto it = orphans_.begin(); it != orphans_.end();) {
      std::lock_guard io((*it)->io_mu);
      if (!(*it)->inode || !(*it)->inode->dirty_bytes()) {
        done.push_back(*it);
        it = orphans_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& n : done) retire(n);
  return failed;
}

namespace {

std::string utc_stamp(uint64_t secs, const char* fmt) {
  char buf[32] = "?";
  time_t t = static_cast<time_t>(secs);
  struct tm tm;
  if (gmtime_r(&t, &tm)) strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

std::string join(const p9::Path& p) {
  std::string s;
  for (const auto& c : p) s += "/" + c;
  return s.empty() ? "/" : s;
}

}  // namespace

std::string Filesystem::spool_path_of(Node& n, Inode& inode) {
  // The I/O fid's path needs no server; the node's remembered names are next.
  if (auto fi = client_->fids().get(static_cast<uint32_t>(inode.backend_id()))) return join(fi->path);
  std::shared_lock lk(n.fid_mu);
  return n.names.empty() ? std::string() : join(n.names.front());
}

void Filesystem::spool_unwritten() {
  std::vector<std::shared_ptr<Node>> nodes = table_->all();
  {
    std::lock_guard lk(orphans_mu_);
    nodes.insert(nodes.end(), orphans_.begin(), orphans_.end());
  }
  Spool spool(spool_dir_for(opts_));
  for (auto& n : nodes) {
    std::shared_ptr<Inode> inode;
    SpoolEntry e;
    {
      std::lock_guard lk(n->io_mu);
      inode = n->inode;
      e.seen_valid = n->seen_valid;
      e.version = n->seen_version;
      e.server_size = n->seen_size;
      e.mtime_sec = n->seen_mtime_sec;
      e.mtime_nsec = n->seen_mtime_nsec;
    }
    if (!inode || !inode->dirty_bytes()) continue;
    if (n->deleted.load()) continue;  // nobody can read it; drop_if_deleted's case
    e.export_url = url_.to_string();
    e.path = spool_path_of(*n, *inode);
    e.qid_path = n->qid.path;
    e.size = inode->size();
    std::vector<std::byte> data;
    for (auto& x : copy_dirty(*inode)) {
      e.ranges.emplace_back(x.pos, x.bytes.size());
      data.insert(data.end(), x.bytes.begin(), x.bytes.end());
    }
    if (data.empty()) continue;
    Status st = e.path.empty() ? Status(make_error(ENOENT, "no path known")) : spool.save(e, data);
    if (st.ok())
      fprintf(stderr,
              "netfs: at exit, %llu bytes of %s could not be written; saved to the spool %s (%s): the next "
              "mount of %s uploads them\n",
              static_cast<unsigned long long>(data.size()), e.path.c_str(), spool.dir().c_str(), e.id.c_str(),
              e.export_url.c_str());
    else
      fprintf(stderr, "netfs: at exit, %llu bytes of %s could not be written and NOT saved (spool %s: %s): lost\n",
              static_cast<unsigned long long>(data.size()), e.path.empty() ? "?" : e.path.c_str(),
              spool.dir().c_str(), st.error().message().c_str());
  }
}

void Filesystem::replay_spool() {
  Spool spool(spool_dir_for(opts_));
  auto entries = spool.list(url_.to_string());
  if (!entries.ok()) {
    fprintf(stderr, "netfs: spool %s: %s; nothing replayed\n", spool.dir().c_str(), entries.error().message().c_str());
    return;
  }
  for (const SpoolEntry& e : *entries) {
    std::string where;
    Status st = replay_one(spool, e, &where);
    if (!st.ok()) {
      fprintf(stderr, "netfs: spool: %llu bytes of %s saved %s could not be written: %s; kept in %s for the next mount\n",
              static_cast<unsigned long long>(e.bytes()), e.path.c_str(),
              utc_stamp(e.saved_at, "%Y-%m-%dT%H:%M:%SZ").c_str(), st.error().message().c_str(), spool.dir().c_str());
      continue;
    }
    if (where == e.path)
      fprintf(stderr, "netfs: spool: wrote %llu bytes of %s saved %s\n", static_cast<unsigned long long>(e.bytes()),
              e.path.c_str(), utc_stamp(e.saved_at, "%Y-%m-%dT%H:%M:%SZ").c_str());
    else
      fprintf(stderr,
              "netfs: spool: %s changed on the server since our unwritten data was saved (%s); the server's file stays, "
              "ours (%llu bytes at their offsets) is %s\n",
              e.path.c_str(), utc_stamp(e.saved_at, "%Y-%m-%dT%H:%M:%SZ").c_str(),
              static_cast<unsigned long long>(e.bytes()), where.c_str());
    if (Status rm = spool.remove(e); !rm.ok())
      fprintf(stderr, "netfs: spool: cannot remove entry %s: %s\n", e.id.c_str(), rm.error().message().c_str());
  }
}

Status Filesystem::replay_one(const Spool& spool, const SpoolEntry& e, std::string* where) {
  p9::Path comps;
  for (size_t i = 0; i < e.path.size();) {
    size_t j = e.path.find('/', i);
    if (j == std::string::npos) j = e.path.size();
    if (j > i) comps.push_back(e.path.substr(i, j - i));
    i = j + 1;
  }
  if (comps.empty()) return make_error(EINVAL, "spool entry without a file name");
  // Unchanged since we last agreed with the server: ours goes into the file itself.
  auto w = ns_->walk(p9::Namespace::root(), comps);
  if (!w.ok() && w.errnum() != ENOENT) return w.error();
  bool same = false;
  if (w.ok()) {
    auto a = ns_->getattr(w->fid);
    if (!a.ok()) {
      (void)ns_->clunk(w->fid);
      return a.error();
    }
    same = e.seen_valid && a->qid.path == e.qid_path && a->qid.version == e.version && a->mtime_sec == e.mtime_sec &&
           a->mtime_nsec == e.mtime_nsec && a->size == e.server_size;
  }
  uint32_t fid;
  uint64_t have = 0;  // the server file's size before our data
  if (same) {
    auto o = ns_->open(w->fid, O_WRONLY);
    if (!o.ok()) {
      (void)ns_->clunk(w->fid);
      return o.error();
    }
    fid = w->fid;
    have = e.server_size;
    *where = e.path;
  } else {
    // Changed (or gone): both stay. Ours goes next to it under a name of its own.
    if (w.ok()) (void)ns_->clunk(w->fid);
    p9::Path dir(comps.begin(), comps.end() - 1);
    auto d = ns_->walk(p9::Namespace::root(), dir);
    if (!d.ok()) return d.error();
    std::string name = comps.back() + ".netfs-conflict-" + utc_stamp(e.saved_at, "%Y%m%dT%H%M%SZ");
    auto c = ns_->create(d->fid, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
    (void)ns_->clunk(d->fid);
    if (!c.ok()) return c.error();
    fid = c->fid;
    dir.push_back(name);
    *where = join(dir);
  }
  Status st;
  std::vector<std::byte> buf;
  uint64_t at = 0;  // in the spool's data file
  for (const auto& [off, len] : e.ranges) {
    for (uint64_t done = 0; done < len && st.ok();) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(len - done, 1u << 20));
      buf.resize(n);
      st = spool.read(e, at, buf.data(), n);
      if (!st.ok()) break;
      auto r = ns_->write(fid, off + done, buf.data(), n);
      if (!r.ok()) {
        st = r.error();
        break;
      }
      if (*r < n) {
        st = make_error(EIO, "spool replay: short write");
        break;
      }
      done += n;
      at += n;
    }
    if (!st.ok()) break;
  }
  // The size we had (a file grown by a truncate of ours ends past its last data).
  if (st.ok() && e.size > have) {
    p9::SetAttr sa;
    sa.valid = p9::setattr_mask::kSize;
    sa.size = e.size;
    st = ns_->setattr(fid, sa);
  }
  if (st.ok()) st = ns_->fsync(fid, false);
  (void)ns_->clunk(fid);
  return st;
}

Metrics Filesystem::metrics() {
  Metrics m;
  engine_->stats().collect(m);
  // The engine's client.reconnects is bumped where p9.reconnects is: one count, printed once.
  std::erase_if(m, [](const Metric& e) { return e.group == "client" && e.field == "reconnects"; });
  m.push_back({"p9", "msize", true, "negotiated 9P message size", client_->msize()});
  // Not yet answered, so not yet in p9.rpcs.
  m.push_back({"p9", "calls_pending", true, "9P calls sent and not yet answered", client_->calls_pending()});
  client_->stats().collect(m);
  m.push_back({"fuse", "nodes", true, "nodes the kernel knows (inode table size)", table_->size()});
  m.push_back({"fuse", "fids", true, "server fids the client holds now", static_cast<uint64_t>(fid_pool_->held())});
  m.push_back({"fuse", "max_fids", true, "the bound on server fids (-o max_fids)", static_cast<uint64_t>(fid_pool_->max_fids())});
  m.push_back({"fuse", "fids_closed", false, "fids of unused files closed to stay under the bound",
               static_cast<uint64_t>(fid_pool_->closed())});
  m.push_back({"fuse", "fids_reopened", false, "fids opened again on demand", static_cast<uint64_t>(fid_pool_->reopened())});
  m.push_back({"fuse", "listings_fetched", false, "full directory listings read from the server",
               listings_fetched_.load(std::memory_order_relaxed)});
  if (store_) {
    m.push_back({"cache", "usage_bytes", true, "bytes the local cache uses on disk", store_->usage()});
    store_->stats().collect(m);
  }
  return m;
}

std::string Filesystem::stats_text() { return metrics_text(metrics()); }

std::string Filesystem::stats_json() { return metrics_json(metrics()); }

std::string Filesystem::stats_prometheus(const std::string& mountpoint) {
  return metrics_prometheus(metrics(), "mountpoint=\"" + prometheus_escape(mountpoint) + "\"");
}

std::string Filesystem::cache_json() {
  if (!store_) return "{\"enabled\":false}";
  std::string s = store_->describe_json();
  s.insert(1, "\"enabled\":true,\"read_bytes\":" + std::to_string(engine_->stats().cache_read_bytes.load()) +
                 ",\"download_bytes\":" + std::to_string(engine_->stats().download_bytes.load()) + ",");
  return s;
}

Status Filesystem::cache_drop() {
  if (!store_) return make_error(ENOENT, "this mount has no cache (no -o cache_dir)");
  return store_->drop_all();
}

}  // namespace netfs::fuse
