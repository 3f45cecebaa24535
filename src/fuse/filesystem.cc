// Filesystem: setup (connect), teardown, and the mount's counters.
#include "fuse/filesystem.h"

#include <netdb.h>
#include <unistd.h>

#include "fuse/internal.h"
#include "fuse/task_pool.h"
#include "netfs/stats.h"
#include "p9/session_setup.h"

namespace netfs::fuse {

// p9::Backend with the size set as Filesystem::set_size_of says.
class FileBackend final : public p9::Backend {
 public:
  FileBackend(p9::Client& c, Filesystem& fs) : p9::Backend(c), fs_(fs) {}
  Status set_size(Inode& inode, uint64_t size) override { return fs_.set_size_of(inode, size); }

 private:
  Filesystem& fs_;
};

Filesystem::Filesystem(const RemoteUrl& url, const MountOptions& opts)
    : url_(url), opts_(opts), attached_as_root_(opts.p9.uname == "root") {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  lock_client_id_ = std::string("netfs@") + host;
}

Result<std::unique_ptr<Filesystem>> Filesystem::connect(const RemoteUrl& url, const MountOptions& opts,
                                                        std::string* why) {
  std::unique_ptr<Filesystem> fs(new Filesystem(url, opts));
  fs->engine_ = std::make_unique<Engine>(opts.engine);
  if (!opts.cache.dir.empty()) {
    auto st = cache::Store::open(opts.cache);
    if (!st.ok()) {
      if (why) *why = "cannot use cache_dir " + opts.cache.dir + ": " + st.error().message();
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

  p9::ClientOptions co = opts.p9;
  co.endpoint = url.endpoint;
  co.aname = url.export_path;
  // A numeric user is a uid: sent as n_uname too, which .L servers prefer (and diod
  // without a user database, -N, needs). A name is left to the server's user database.
  auto uid = numeric_uname(co.uname);
  if (!uid.ok()) {
    if (why) *why = "uname '" + co.uname + "' is a number beyond any uid (at most 4294967294)";
    return uid.error();
  }
  if (*uid) co.n_uname = **uid;
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
      *why = "9P server at " + server + " rejected our MUNGE authentication as user '" + co.uname +
             "' (a different munge key, or the credential's uid is not the attach user's): " + err;
    } else if (e.context == p9::kAttachRefused) {
      *why = "9P server at " + server + " refused export '" + url.export_path + "' (attach as user '" + co.uname +
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
  fs->pool_ = std::make_unique<TaskPool>(opts.attr_threads);
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
