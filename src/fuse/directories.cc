// Filesystem: opendir, readdirplus and the directory listings kept in the local cache
// (docs/cache.md, "Directory listings").
#include "fuse/filesystem.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include "fuse/dir_listing.h"
#include "fuse/internal.h"
#include "fuse/task_pool.h"

namespace netfs::fuse {

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
      FileAttr a;
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
        if (a.ok() && a->id == n->qid.path)
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

}  // namespace netfs::fuse
