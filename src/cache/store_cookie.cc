#include "cache/store_cookie.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "cache/checksum.h"
#include "cache/file_io.h"
#include "cache/store.h"
#include "netfs/inode.h"
#include "netfs/request.h"

namespace netfs::cache {

namespace {

// Adds [a, b) to a sorted list of disjoint ranges, merging neighbours.
void add_range(std::vector<std::pair<uint32_t, uint32_t>>& v, uint32_t a, uint32_t b) {
  v.emplace_back(a, b);
  std::sort(v.begin(), v.end());
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (auto& r : v) {
    if (!out.empty() && r.first <= out.back().second)
      out.back().second = std::max(out.back().second, r.second);
    else
      out.push_back(r);
  }
  v.swap(out);
}

constexpr uint64_t kMaxRun = 1 << 20;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace

StoreCookie::StoreCookie(Store& store, std::string key, int data_fd, std::unique_ptr<ContentMap> map)
    : store_(store),
      key_(std::move(key)),
      data_fd_(data_fd),
      granule_(store.granule()),
      map_(std::move(map)),
      cipher_(store.cipher()) {}

StoreCookie::~StoreCookie() {
  uint64_t bytes = charged();
  // What a clean unmount leaves must survive a machine crash too.
  if (map_dirty_) (void)map_->sync();
  ::close(data_fd_);
  map_.reset();
  store_.cookie_closed(key_, bytes, now_ns());
}

Status StoreCookie::open(const Coherency& now) {
  std::lock_guard lk(mu_);
  if (map_->header_forged()) note_auth_failure(UINT64_MAX);
  if (map_->header_valid() && map_->coherency() == now) {
    uint64_t forged = 0;
    auto recs = map_->load(&forged);
    if (forged) {
      add(store_.stats().auth_failures, forged);
      note_auth_failure(UINT64_MAX - 1);
      map_dirty_ = true;
    }
    if (recs.ok()) {
      uint64_t t = store_.tick();
      for (const GranuleRecord& r : *recs) {
        Granule& g = granules_[r.index];
        g.present = true;
        g.len = r.len;
        g.hash = r.hash;
        g.seal = r.seal;
        g.last_use = t;
      }
      store_.charge(granules_.size() * granule_);
      return ok_status();
    }
  }
  if (map_->header_valid() || map_->header_forged()) add(store_.stats().cookies_emptied);
  empty_locked(now);
  return ok_status();
}

bool StoreCookie::write_enabled() const {
  std::lock_guard lk(mu_);
  return !broken_;
}

uint64_t StoreCookie::charged() const {
  std::lock_guard lk(mu_);
  return granules_.size() * granule_;
}

size_t StoreCookie::present_granules() const {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (auto& [i, g] : granules_) n += g.present;
  return n;
}

Aad StoreCookie::granule_aad(uint64_t index, uint32_t len) const {
  return std::move(Aad("netfs cache granule v1").str(key_).u64(index).u64(len));
}

// Called with mu_ held.
void StoreCookie::note_auth_failure(uint64_t index) {
  if (index == UINT64_MAX) add(store_.stats().auth_failures);  // the map's header
  if (auth_logged_) return;
  auth_logged_ = true;
  // The object's name only: it is a keyed hash, and the key stays out of every message.
  const char* what = index == UINT64_MAX       ? "its map header"
                     : index == UINT64_MAX - 1 ? "map records"
                                               : "a granule";
  fprintf(stderr, "netfs: cache: object %s: %s failed authentication (tampered with or torn by a crash, or written with "
          "another key); dropped, read from the server (logged once per open file)\n", key_.c_str(), what);
}

Status StoreCookie::seal_and_write(uint64_t index, std::byte* buf, uint32_t n, Seal* out) {
  // Padded to a whole granule: the data file shows no size finer than a granule.
  if (n < granule_) std::memset(buf + n, 0, granule_ - n);
  if (!cipher_->seal(buf, granule_, granule_aad(index, n).span(), out)) return make_error(EIO, "seal cache granule");
  return pwrite_all(data_fd_, buf, granule_, index * granule_, "cache data write");
}

void StoreCookie::note_io_error() {
  add(store_.stats().io_errors);
  std::lock_guard lk(mu_);
  broken_ = true;
}

bool StoreCookie::stale_locked(uint64_t index, uint64_t seq) const {
  if (emptied_seq_ > seq) return true;
  if (auto it = dropped_.find(index); it != dropped_.end() && it->second > seq) return true;
  for (auto& [first, s] : tail_drops_)
    if (index >= first && s > seq) return true;
  return false;
}

void StoreCookie::drop_locked(uint64_t index) {
  auto it = granules_.find(index);
  if (it == granules_.end()) return;
  if (it->second.present) {
    (void)map_->clear(index);
    map_dirty_ = true;
  }
  // Give the space back; a filesystem without hole punching keeps the bytes, unreferenced.
  (void)::fallocate(data_fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(index * granule_),
                    granule_);
  granules_.erase(it);
  store_.release(granule_);
}

void StoreCookie::empty_locked(const Coherency& c) {
  store_.release(granules_.size() * granule_);
  granules_.clear();
  dropped_.clear();
  tail_drops_.clear();
  emptied_seq_ = ++seq_;
  if (::ftruncate(data_fd_, 0) < 0 || !map_->reset(c).ok()) broken_ = true;
  map_dirty_ = true;
}

void StoreCookie::invalidate() {
  add(store_.stats().cookies_emptied);
  std::lock_guard lk(mu_);
  empty_locked(Coherency{});
}

void StoreCookie::check_coherency(const Coherency& now) {
  std::lock_guard lk(mu_);
  if (map_->header_valid() && map_->coherency() == now) return;
  add(store_.stats().cookies_emptied);
  empty_locked(now);
}

Status StoreCookie::set_coherency(const Coherency& c) {
  std::lock_guard lk(mu_);
  if (map_->header_valid() && map_->coherency() == c) return ok_status();
  // Dropped records must be durable before a header that vouches for what remains.
  if (map_dirty_) {
    NETFS_TRY(map_->sync());
    map_dirty_ = false;
  }
  std::vector<GranuleRecord> present;
  if (cipher_)
    for (auto& [i, g] : granules_)
      if (g.present) present.push_back({i, g.len, g.hash, g.seal});
  return map_->set_coherency(c, present);
}

void StoreCookie::drop_range(uint64_t start, uint64_t len) {
  if (!len) return;
  std::lock_guard lk(mu_);
  uint64_t first = start / granule_;
  uint64_t s = ++seq_;
  if (len >= UINT64_MAX - start) {
    tail_drops_.emplace_back(first, s);
    for (auto it = granules_.lower_bound(first); it != granules_.end();) {
      uint64_t idx = (it++)->first;
      drop_locked(idx);
      add(store_.stats().dropped_granules);
    }
    return;
  }
  uint64_t last = (start + len - 1) / granule_;
  for (uint64_t i = first; i <= last; i++) {
    dropped_[i] = s;
    if (granules_.count(i)) {
      drop_locked(i);
      add(store_.stats().dropped_granules);
    }
  }
}

// ---------------------------------------------------------------- writing

Status StoreCookie::store_range(uint64_t pos, size_t n, uint64_t eof, uint64_t seq, Fetch fetch, void* ctx) {
  eof = std::max(eof, pos + n);
  std::vector<std::byte> buf(granule_);
  std::vector<Done> done;
  const uint64_t end = pos + n;
  while (pos < end) {
    uint64_t index = pos / granule_;
    uint64_t gstart = index * granule_;
    size_t k = static_cast<size_t>(std::min<uint64_t>(gstart + granule_, end) - pos);
    fetch(ctx, buf.data(), k);
    const uint32_t off = static_cast<uint32_t>(pos - gstart);
    const uint32_t glen = static_cast<uint32_t>(std::min<uint64_t>(granule_, eof - gstart));
    // A whole granule is sealed before taking the lock, so readers of others do not wait.
    const bool whole = off == 0 && k == glen;
    Seal sealed;
    if (cipher_ && whole) {
      if (glen < granule_) std::memset(buf.data() + glen, 0, granule_ - glen);
      if (!cipher_->seal(buf.data(), granule_, granule_aad(index, glen).span(), &sealed))
        return make_error(EIO, "seal cache granule");
    }
    bool known;
    {
      std::lock_guard lk(mu_);
      known = granules_.count(index) != 0;
    }
    bool reserved = false;
    if (!known) {
      if (!store_.reserve(granule_)) {
        add(store_.stats().skipped_granules);
        pos += k;
        continue;
      }
      reserved = true;
    }
    std::lock_guard lk(mu_);
    if (stale_locked(index, seq) || broken_) {
      if (reserved) store_.release(granule_);
      pos += k;
      continue;
    }
    auto [it, fresh] = granules_.try_emplace(index);
    if (!fresh && reserved) store_.release(granule_);  // charged already, meanwhile
    if (fresh && !reserved) {
      // Evicted between the check and now: it is new again, and not charged.
      granules_.erase(it);
      pos += k;
      continue;
    }
    Granule& g = it->second;
    if (cipher_) {
      if (g.present) {
        // Its sealed bytes cannot take a piece: it starts over, and its record goes.
        (void)map_->clear(index);
        map_dirty_ = true;
        g.present = false;
        g.len = 0;
        g.have.clear();
      }
      Seal s = sealed;
      if (whole) {
        NETFS_TRY(pwrite_all(data_fd_, buf.data(), granule_, gstart, "cache data write"));
        g.have = {{0, glen}};
        g.gather.reset();
      } else {
        if (g.gather.empty() &&
            !g.gather.acquire(store_.gather_bytes(), store_.options().gather_limit, granule_)) {
          // Not cached rather than unbounded memory: reads of it go to the server.
          add(store_.stats().gather_refused);
          granules_.erase(it);
          store_.release(granule_);
          pos += k;
          continue;
        }
        std::memcpy(g.gather.data() + off, buf.data(), k);
        add_range(g.have, off, off + static_cast<uint32_t>(k));
        if (!(g.have.size() == 1 && g.have[0].first == 0 && g.have[0].second >= glen)) {
          pos += k;
          continue;
        }
        NETFS_TRY(seal_and_write(index, g.gather.data(), glen, &s));
        g.gather.reset();
      }
      done.push_back({index, glen, 0, true, s});
      pos += k;
      continue;
    }
    Status st = pwrite_all(data_fd_, buf.data(), k, pos, "cache data write");
    if (!st.ok()) return st;
    if (g.present) {
      // Overwriting cached bytes: the recorded checksum no longer holds; a crash from
      // here on leaves a granule that fails verification, which is only dropped.
      g.have = {{0, g.len}};
      g.present = false;
      g.len = 0;
    }
    add_range(g.have, off, off + static_cast<uint32_t>(k));
    if (g.have.size() == 1 && g.have[0].first == 0 && g.have[0].second >= glen)
      done.push_back({index, glen, whole ? checksum(buf.data(), glen) : 0, whole, {}});
    pos += k;
  }
  return commit(done, seq);
}

Status StoreCookie::commit(std::vector<Done>& done, uint64_t seq) {
  if (done.empty()) return ok_status();
  // The bytes must be durable before any record says they are there.
  if (::fdatasync(data_fd_) < 0) return make_error(errno, "cache data sync");
  std::vector<std::byte> buf;
  for (Done& d : done) {
    if (d.hashed) continue;
    buf.resize(d.len);
    NETFS_TRY(pread_all(data_fd_, buf.data(), d.len, d.index * granule_, "cache data read"));
    d.hash = checksum(buf.data(), d.len);
    d.hashed = true;
  }
  std::lock_guard lk(mu_);
  uint64_t t = store_.tick();
  for (const Done& d : done) {
    auto it = granules_.find(d.index);
    if (it == granules_.end() || it->second.present || stale_locked(d.index, seq)) continue;
    NETFS_TRY(map_->put({d.index, d.len, d.hash, d.seal}));
    Granule& g = it->second;
    g.present = true;
    g.len = d.len;
    g.hash = d.hash;
    g.seal = d.seal;
    g.have.clear();
    g.last_use = t;
    add(store_.stats().written_granules);
    add(store_.stats().written_bytes, d.len);
  }
  return ok_status();
}

uint64_t StoreCookie::begin_write() {
  std::lock_guard lk(mu_);
  writes_in_flight_++;
  return seq_;
}

void StoreCookie::end_write() {
  std::lock_guard lk(mu_);
  // No write issued before any drop is left: the drop records can go (they would
  // otherwise grow with every granule a long-lived file is written over).
  if (--writes_in_flight_ == 0) {
    dropped_.clear();
    tail_drops_.clear();
  }
}

Status StoreCookie::write_bytes(uint64_t pos, const void* data, size_t n, uint64_t eof) {
  uint64_t seq = begin_write();
  struct Ctx {
    const std::byte* p;
  } ctx{static_cast<const std::byte*>(data)};
  Status st = store_range(pos, n, eof, seq, [](void* c, std::byte* dst, size_t k) {
    auto* x = static_cast<Ctx*>(c);
    std::memcpy(dst, x->p, k);
    x->p += k;
  }, &ctx);
  end_write();
  if (!st.ok()) note_io_error();
  return st;
}

void StoreCookie::issue_write(Subrequest& sreq) {
  uint64_t pos = sreq.start() + sreq.transferred();
  size_t n = sreq.len() - sreq.transferred();
  uint64_t eof = sreq.request().inode().size();
  uint64_t seq = begin_write();
  auto self = shared_from_this();
  store_.submit([self, &sreq, pos, n, eof, seq] {
    IoIter it = sreq.io();
    Status st = self->store_range(pos, n, eof, seq, [](void* c, std::byte* dst, size_t k) {
      auto* io = static_cast<IoIter*>(c);
      io->copy_out(dst, k);
      io->advance(k);
    }, &it);
    self->end_write();
    if (!st.ok()) self->note_io_error();
    sreq.terminated(st.ok() ? static_cast<int64_t>(n) : -st.errnum());
  });
}

// ---------------------------------------------------------------- reading

uint64_t StoreCookie::present(uint64_t start, uint64_t len) {
  // One cache subrequest per call: bounded, so a read of a long cached run is issued in
  // pieces that each complete on their own (and a checksum failure re-reads less).
  len = std::min<uint64_t>(len, kMaxRun);
  std::lock_guard lk(mu_);
  uint64_t n = 0;
  uint64_t t = store_.tick();
  while (n < len) {
    uint64_t pos = start + n;
    auto it = granules_.find(pos / granule_);
    if (it == granules_.end() || !it->second.present) break;
    uint64_t gend = it->first * granule_ + it->second.len;
    if (pos >= gend) break;
    n += std::min(gend - pos, len - n);
    it->second.last_use = t;
    if (it->second.len < granule_) break;
  }
  add(store_.stats().lookups);
  add(store_.stats().hit_bytes, n);
  // Not the misses: the read path asks again for each remainder of a range it sends to
  // the server piece by piece, which counted those bytes over and over (missed() does).
  return n;
}

void StoreCookie::missed(uint64_t /*start*/, uint64_t len) { add(store_.stats().miss_bytes, len); }

Result<size_t> StoreCookie::load_range(uint64_t pos, size_t n, Sink sink, void* ctx) {
  std::vector<std::byte> buf(granule_);
  size_t done = 0;
  while (done < n) {
    uint64_t p = pos + done;
    uint64_t index = p / granule_;
    uint32_t len;
    uint64_t hash;
    Seal seal;
    {
      std::lock_guard lk(mu_);
      auto it = granules_.find(index);
      if (it == granules_.end() || !it->second.present || p >= index * granule_ + it->second.len)
        return make_error(ENODATA, "not in the cache");
      it->second.readers++;  // the janitor does not evict it under us
      len = it->second.len;
      hash = it->second.hash;
      seal = it->second.seal;
    }
    Status st = pread_all(data_fd_, buf.data(), cipher_ ? granule_ : len, index * granule_, "cache data read");
    bool good = st.ok() && (cipher_ ? cipher_->open(buf.data(), granule_, granule_aad(index, len).span(), seal)
                                    : checksum(buf.data(), len) == hash);
    {
      std::lock_guard lk(mu_);
      auto it = granules_.find(index);
      if (it != granules_.end()) {
        it->second.readers--;
        it->second.last_use = store_.tick();
        // Still the version we read (not rewritten meanwhile)?
        bool same = it->second.hash == hash && std::memcmp(it->second.seal.nonce, seal.nonce, sizeof seal.nonce) == 0;
        if (!good && it->second.present && same) {
          drop_locked(index);
          add(store_.stats().corrupt_granules);
          if (cipher_) {
            add(store_.stats().auth_failures);
            note_auth_failure(index);
          }
        }
      }
    }
    if (!good) {
      if (st.ok()) return make_error(EIO, "cache granule checksum mismatch");
      add(store_.stats().io_errors);
      return st.error();
    }
    add(store_.stats().read_granules);
    size_t off = static_cast<size_t>(p - index * granule_);
    size_t k = std::min<size_t>(len - off, n - done);
    sink(ctx, done, buf.data() + off, k);
    done += k;
    if (len < granule_ && done < n) break;  // the file's end
  }
  return done;
}

Result<size_t> StoreCookie::read_bytes(uint64_t pos, void* out, size_t n) {
  return load_range(pos, n, [](void* c, size_t off, const std::byte* src, size_t k) {
    std::memcpy(static_cast<std::byte*>(c) + off, src, k);
  }, out);
}

void StoreCookie::issue_read(Subrequest& sreq) {
  uint64_t pos = sreq.start() + sreq.transferred();
  size_t n = sreq.len() - sreq.transferred();
  IoIter io = sreq.io();
  auto r = load_range(pos, n, [](void* c, size_t off, const std::byte* src, size_t k) {
    IoIter it = *static_cast<IoIter*>(c);
    it.advance(off);
    it.copy_in(src, k);
  }, &io);
  sreq.terminated(r.ok() ? static_cast<int64_t>(*r) : -r.errnum());
}

// ---------------------------------------------------------------- eviction

uint64_t StoreCookie::evict(uint64_t want) {
  std::lock_guard lk(mu_);
  std::vector<std::pair<uint64_t, uint64_t>> lru;  // (last_use, index)
  for (auto& [i, g] : granules_)
    if (!g.readers) lru.emplace_back(g.last_use, i);
  std::sort(lru.begin(), lru.end());
  uint64_t freed = 0;
  uint64_t s = ++seq_;
  for (auto& [t, i] : lru) {
    if (freed >= want) break;
    dropped_[i] = s;  // a write in flight for it must not resurrect half of it
    drop_locked(i);
    freed += granule_;
    add(store_.stats().evicted_granules);
  }
  add(store_.stats().evicted_bytes, freed);
  return freed;
}

}  // namespace netfs::cache
