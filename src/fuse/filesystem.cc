// Filesystem: setup (connect), teardown, and the mount's counters.
#include "fuse/filesystem.h"

#include <unistd.h>

#include "fuse/internal.h"
#include "fuse/task_pool.h"
#include "netfs/stats.h"

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

Result<std::unique_ptr<Filesystem>> Filesystem::assemble(const RemoteUrl& url, const MountOptions& opts,
                                                         MountParts parts, std::string* why) {
  std::unique_ptr<Filesystem> fs(new Filesystem(url, opts));
  fs->engine_ = std::move(parts.engine);
  fs->store_ = std::move(parts.store);
  fs->flusher_ = std::move(parts.flusher);
  fs->client_ = std::move(parts.client);
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
  client_->collect(m);
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
