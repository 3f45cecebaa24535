// Filesystem: sync of every file (netfs umount) and the spool of data that could not be
// written at exit, replayed by the next mount (src/fuse/spool.h).
#include "fuse/filesystem.h"

#include <fcntl.h>

#include <algorithm>

#include "fuse/internal.h"
#include "netfs/copy_dirty.h"
#include "netfs/inode.h"

namespace netfs::fuse {

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
    // fsync succeeded and bytes are dirty again: a writer dirtied them during the sync
    // (EBUSY), which is no server failure and must not be reported as EIO.
    if (!st.ok() || left) failed.push_back({path_of(*n), left, st.ok() ? EBUSY : st.errnum()});
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
  // With cache_key, sealed like the cache it lives in (docs/cache.md).
  Spool spool(spool_dir_for(opts_), store_ ? store_->cipher() : nullptr);
  for (auto& n : nodes) {
    std::shared_ptr<Inode> inode;
    SpoolEntry e;
    {
      std::lock_guard lk(n->io_mu);
      inode = n->inode;
      e.seen_valid = n->seen_valid;
      e.version = static_cast<uint32_t>(n->seen.version);
      e.server_size = n->seen.size;
      e.mtime_sec = n->seen.mtime_sec;
      e.mtime_nsec = n->seen.mtime_nsec;
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
  Spool spool(spool_dir_for(opts_), store_ ? store_->cipher() : nullptr);
  size_t unreadable = 0;
  auto entries = spool.list(url_.to_string(), &unreadable);
  if (!entries.ok()) {
    fprintf(stderr, "netfs: spool %s: %s; nothing replayed\n", spool.dir().c_str(), entries.error().message().c_str());
    return;
  }
  if (unreadable)
    fprintf(stderr, "netfs: spool %s: %zu entries sealed with another cache_key or none given; kept, not replayed\n",
            spool.dir().c_str(), unreadable);
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

}  // namespace netfs::fuse
