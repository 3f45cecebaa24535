#include "cache/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>

#include "cache/cache_key.h"
#include "cache/checksum.h"
#include "cache/content_map.h"
#include "cache/file_io.h"
#include "cache/key_check.h"
#include "cache/store_cookie.h"

namespace netfs::cache {

namespace {

namespace fs = std::filesystem;

std::string hex16(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016" PRIx64, v);
  return b;
}

Status make_dir(const std::string& p) {
  if (::mkdir(p.c_str(), 0700) < 0 && errno != EEXIST) return make_error(errno, "mkdir in cache dir");
  return ok_status();
}

uint64_t mtime_ns(const struct stat& st) {
  return static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + static_cast<uint64_t>(st.st_mtim.tv_nsec);
}

// Every object (its key "SERVER/QID") with its charged bytes and last use; reads each
// map's records. Used by the janitor's background scan and by `netfs cache DIR`.
template <typename F>
void for_each_object(const std::string& dir, uint32_t granule, const Cipher* cipher, F&& fn) {
  std::error_code ec;
  for (auto& sd : fs::directory_iterator(dir + "/objects", ec)) {
    if (!sd.is_directory(ec)) continue;
    // Older caches made it 0644; it names the server.
    (void)::chmod((sd.path().string() + "/server").c_str(), 0600);
    std::error_code ec2;
    for (auto& f : fs::directory_iterator(sd.path(), ec2)) {
      std::string name = f.path().filename().string();
      if (name.size() < 4 || name.substr(name.size() - 4) != ".map") continue;
      std::string key = sd.path().filename().string() + "/" + name.substr(0, name.size() - 4);
      struct stat st {};
      if (::stat(f.path().c_str(), &st) < 0) continue;
      auto m = ContentMap::open(f.path().string(), granule, cipher, key);
      uint64_t n = 0;
      if (m.ok()) {
        auto recs = (*m)->load();
        if (recs.ok()) n = recs->size();
      }
      fn(key, n * granule, mtime_ns(st));
    }
  }
}

constexpr const char* kGranuleFile = "/granule";

bool granule_ok(uint64_t g) { return g >= kMinGranule && g <= kMaxGranule && !(g & (g - 1)); }

// DIR/granule, if it says a granule size we accept (0 otherwise). Anyone who can write
// the directory can write it: unbounded, it meant a 2 GiB buffer per granule, and a 0
// a division by zero in `netfs cache DIR`.
uint32_t read_granule_file(const std::string& dir) {
  unsigned long long g = 0;
  if (FILE* f = std::fopen((dir + kGranuleFile).c_str(), "r")) {
    if (std::fscanf(f, "%llu", &g) != 1) g = 0;
    std::fclose(f);
  }
  return granule_ok(g) ? static_cast<uint32_t>(g) : 0;
}

// Every object, maps first, so an interrupted removal leaves no data that looks present.
Status remove_objects(const std::string& dir) {
  std::error_code ec;
  for (auto& sd : fs::directory_iterator(dir + "/objects", ec))
    for (auto& f : fs::directory_iterator(sd.path(), ec))
      if (f.path().extension() == ".map") fs::remove(f.path(), ec);
  fs::remove_all(dir + "/objects", ec);
  Status out = ec ? Status(make_error(ec.value(), "remove cache objects")) : ok_status();
  if (::mkdir((dir + "/objects").c_str(), 0700) < 0 && errno != EEXIST && out.ok())
    out = make_error(errno, "mkdir cache objects");
  return out;
}

bool has_objects(const std::string& dir) {
  std::error_code ec;
  return fs::directory_iterator(dir + "/objects", ec) != fs::directory_iterator();
}

// A cache written with another key, or encrypted and opened without one, or plain and
// opened with one: emptied (or refused) before anything is read from it.
Status check_key(const StoreOptions& opts, const Cipher* cipher) {
  const std::string& dir = opts.dir;
  bool has_check = ::access((dir + kKeyCheckFile).c_str(), F_OK) == 0;
  const char* why = nullptr;
  if (cipher) {
    KeyCheck k = read_key_check(dir, *cipher, opts.granule);
    if (k == KeyCheck::kMatch) return ok_status();
    if (k == KeyCheck::kMismatch)
      why = "it was written with another key";
    else if (has_objects(dir))
      why = "it holds an unencrypted cache";
  } else if (has_check) {
    why = "it holds an encrypted cache and no cache_key was given";
  }
  if (why && opts.refuse_mismatch) {
    fprintf(stderr, "netfs: cache: %s: %s; refused (cache_mismatch=refuse)\n", dir.c_str(), why);
    return make_error(EKEYREJECTED,
                      cipher ? "cache_dir was written with another key or without one (cache_mismatch=refuse)"
                             : "cache_dir holds an encrypted cache and no cache_key was given (cache_mismatch=refuse)");
  }
  if (why) {
    fprintf(stderr, "netfs: cache: %s: %s; its content is dropped\n", dir.c_str(), why);
    NETFS_TRY(remove_objects(dir));
  }
  if (cipher) return write_key_check(dir, *cipher, opts.granule);
  if (has_check && ::unlink((dir + kKeyCheckFile).c_str()) < 0) return make_error(errno, "remove key check");
  return ok_status();
}

}  // namespace

Store::Store(StoreOptions opts, int lock_fd, std::unique_ptr<Cipher> cipher)
    : opts_(std::move(opts)), lock_fd_(lock_fd), cipher_(std::move(cipher)) {
  writer_ = std::thread([this] { writer_loop(); });
  if (opts_.janitor)
    janitor_ = std::thread([this] { janitor_loop(); });
  else
    scan();
}

Result<std::unique_ptr<Store>> Store::open(StoreOptions opts) {
  if (opts.dir.empty()) return make_error(EINVAL, "cache_dir is empty");
  if (!granule_ok(opts.granule)) return make_error(EINVAL, "cache granule: a power of two from 4 KiB to 1 MiB");
  std::unique_ptr<Cipher> cipher;
  if (!opts.key_file.empty()) {
    auto key = read_cache_key(opts.key_file);
    if (!key.ok()) return key.error();
    auto c = Cipher::create(*key);
    if (!c.ok()) return c.error();
    cipher = std::move(*c);
  }
  NETFS_TRY(make_dir(opts.dir));
  NETFS_TRY(make_dir(opts.dir + "/objects"));
  // What it holds is nobody else's business, encrypted or not.
  (void)::chmod(opts.dir.c_str(), 0700);
  (void)::chmod((opts.dir + "/objects").c_str(), 0700);
  int fd = ::open((opts.dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errno, "open cache lock");
  if (::flock(fd, LOCK_EX | LOCK_NB) < 0) {
    int e = errno == EWOULDBLOCK ? EBUSY : errno;
    ::close(fd);
    return make_error(e, "cache dir is in use by another mount");
  }
  // The granule is fixed per directory: maps written with another are unreadable.
  std::string gpath = opts.dir + kGranuleFile;
  if (uint32_t g = read_granule_file(opts.dir)) {
    opts.granule = g;
  } else {
    // Missing or out of bounds: ours. The maps of another granule then do not parse (or,
    // encrypted, the key check fails and they are dropped).
    if (::access(gpath.c_str(), F_OK) == 0)
      fprintf(stderr, "netfs: cache: %s: granule file out of bounds (4 KiB to 1 MiB); using %u\n", opts.dir.c_str(),
              opts.granule);
    if (int w = ::open(gpath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); w >= 0) {
      std::string g = std::to_string(opts.granule) + "\n";
      (void)pwrite_all(w, g.data(), g.size(), 0, "write granule file");
      ::close(w);
    }
  }
  (void)::chmod(gpath.c_str(), 0600);
  if (Status st = check_key(opts, cipher.get()); !st.ok()) {
    ::close(fd);
    return st.error();
  }
  return std::unique_ptr<Store>(new Store(std::move(opts), fd, std::move(cipher)));
}

Store::~Store() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (janitor_.joinable()) janitor_.join();
  ::close(lock_fd_);
}

std::string Store::object_path(const std::string& key) const { return opts_.dir + "/objects/" + key; }

std::string Store::object_key(std::string_view server, uint64_t qid_path) const {
  if (!cipher_) return hex16(checksum(server.data(), server.size())) + "/" + hex16(qid_path);
  std::string s(server);
  return cipher_->name("server " + s) + "/" + cipher_->name("object " + s + " " + std::to_string(qid_path));
}

bool Store::has_object(std::string_view server, uint64_t qid_path) {
  std::string key = object_key(server, qid_path);
  {
    std::lock_guard lk(mu_);
    auto it = open_.find(key);
    if (it != open_.end() && !it->second.expired()) return true;
  }
  return ::access((object_path(key) + ".map").c_str(), F_OK) == 0;
}

Result<std::shared_ptr<StoreCookie>> Store::cookie(std::string_view server, uint64_t qid_path, const Coherency& now) {
  std::string key = object_key(server, qid_path);
  std::string sdir = key.substr(0, key.find('/'));
  std::shared_ptr<StoreCookie> c;
  {
    std::unique_lock lk(mu_);
    auto it = open_.find(key);
    if (it != open_.end()) c = it->second.lock();
    if (!c) {
      // The cookie charges its bytes itself when it loads them.
      if (auto cl = closed_.find(key); cl != closed_.end()) {
        release(cl->second.bytes);
        closed_.erase(cl);
      }
      NETFS_TRY(make_dir(opts_.dir + "/objects/" + sdir));
      // Encrypted: no `server` file, the URL would be in clear.
      std::string spath = opts_.dir + "/objects/" + sdir + "/server";
      if (!cipher_ && ::access(spath.c_str(), F_OK) < 0) {
        if (int f = ::open(spath.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600); f >= 0) {
          std::string line = std::string(server) + "\n";
          (void)pwrite_all(f, line.data(), line.size(), 0, "write server file");
          ::close(f);
        }
      }
      std::string base = object_path(key);
      int fd = ::open((base + ".data").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (fd < 0) return make_error(errno, "open cache data file");
      auto m = ContentMap::open(base + ".map", opts_.granule, cipher_.get(), key);
      if (!m.ok()) {
        ::close(fd);
        return m.error();
      }
      c = std::make_shared<StoreCookie>(*this, key, fd, std::move(*m));
      Status st = c->open(now);
      if (!st.ok()) {
        lk.unlock();  // the cookie's destructor reports to the Store
        return st.error();
      }
      open_[key] = c;
      return c;
    }
  }
  c->check_coherency(now);
  return c;
}

void Store::cookie_closed(const std::string& key, uint64_t bytes, uint64_t when_ns) {
  {
    std::lock_guard lk(mu_);
    auto it = open_.find(key);
    if (it != open_.end() && !it->second.expired()) {
      // Reopened while this one was closing: the new cookie charged the object itself.
      release(bytes);
      return;
    }
    if (it != open_.end()) open_.erase(it);
    // Its bytes stay charged, now as a closed object the janitor may evict whole.
    closed_[key] = Closed{bytes, when_ns};
  }
  // The map's mtime is the object's last use for the scan after a restart.
  std::string p = object_path(key) + ".map";
  (void)::utimensat(AT_FDCWD, p.c_str(), nullptr, 0);
  if (usage() > opts_.size_limit) {
    std::lock_guard lk(mu_);
    kick_ = true;
    cv_.notify_all();
  }
}

uint64_t Store::free_space_shortfall() const {
  struct statvfs v {};
  if (::statvfs(opts_.dir.c_str(), &v) < 0) return 0;
  uint64_t total = static_cast<uint64_t>(v.f_blocks) * v.f_frsize;
  uint64_t avail = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
  uint64_t floor = opts_.min_free ? opts_.min_free : total / 50;
  return avail < floor ? floor - avail : 0;
}

bool Store::reserve(uint64_t bytes) {
  int64_t after = usage_.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
  uint64_t limit = opts_.size_limit;
  // The free-space floor costs a statvfs: checked every 64 reservations (a few MiB).
  if ((reserves_.fetch_add(1, std::memory_order_relaxed) & 63) == 0) {
    uint64_t short_by = free_space_shortfall();
    if (short_by) limit = static_cast<uint64_t>(std::max<int64_t>(0, after - static_cast<int64_t>(short_by)));
  }
  if (static_cast<uint64_t>(after) <= limit) return true;
  evict(limit > bytes ? limit - bytes : 0);
  if (usage() <= limit) return true;
  release(bytes);
  return false;
}

uint64_t Store::evict_closed_locked(uint64_t target, std::unique_lock<std::mutex>& lk) {
  uint64_t freed = 0;
  while (usage() > target && !closed_.empty()) {
    auto victim = std::min_element(closed_.begin(), closed_.end(), [](auto& a, auto& b) {
      return a.second.last_use_ns < b.second.last_use_ns;
    });
    std::string base = object_path(victim->first);
    ::unlink((base + ".map").c_str());  // map first: data without a map is never read
    ::unlink((base + ".data").c_str());
    ::unlink((base + ".map.new").c_str());  // an encrypted map's rewrite cut short by a crash
    release(victim->second.bytes);
    freed += victim->second.bytes;
    add(stats_.evicted_objects);
    add(stats_.evicted_bytes, victim->second.bytes);
    closed_.erase(victim);
  }
  return freed;
}

uint64_t Store::evict(uint64_t target) {
  std::vector<std::shared_ptr<StoreCookie>> open;
  uint64_t freed = 0;
  {
    std::unique_lock lk(mu_);
    freed += evict_closed_locked(target, lk);
    if (usage() <= target) return freed;
    for (auto& [k, w] : open_)
      if (auto c = w.lock()) open.push_back(std::move(c));
  }
  // Open files: the least recently used granules across all of them, in rounds, so that
  // one large file does not lose everything while others keep old data.
  while (usage() > target) {
    uint64_t round = 0;
    for (auto& c : open) {
      if (usage() <= target) break;
      uint64_t want = std::min<uint64_t>(usage() - target, 64ull * opts_.granule);
      round += c->evict(want);
    }
    freed += round;
    if (!round) break;
  }
  return freed;  // `open` may hold the last reference: released here, outside mu_
}

Status Store::drop_all() {
  std::vector<std::shared_ptr<StoreCookie>> open;
  {
    std::unique_lock lk(mu_);
    evict_closed_locked(0, lk);
    for (auto& [k, w] : open_)
      if (auto c = w.lock()) open.push_back(std::move(c));
  }
  for (auto& c : open) c->invalidate();
  return ok_status();
}

void Store::submit(std::function<void()> job) {
  {
    std::lock_guard lk(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_all();
}

void Store::writer_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stop_ and drained
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    jobs_running_++;
    lk.unlock();
    job();
    job = nullptr;  // may drop a cookie's last reference: not under mu_
    lk.lock();
    jobs_running_--;
    cv_.notify_all();
  }
}

void Store::scan() {
  // Objects opened meanwhile are charged by their cookies; skip them.
  for_each_object(opts_.dir, opts_.granule, cipher_.get(), [&](const std::string& key, uint64_t bytes, uint64_t when) {
    std::lock_guard lk(mu_);
    if (open_.count(key) || closed_.count(key)) return;
    closed_[key] = Closed{bytes, when};
    charge(bytes);
  });
  std::lock_guard lk(mu_);
  scan_done_ = true;
  cv_.notify_all();
}

void Store::janitor_loop() {
  scan();
  std::unique_lock lk(mu_);
  while (!stop_) {
    // A periodic look at the free-space floor: other programs fill the disk too.
    cv_.wait_for(lk, std::chrono::seconds(2), [&] { return stop_ || kick_; });
    if (stop_) break;
    kick_ = false;
    lk.unlock();
    uint64_t target = opts_.size_limit;
    if (uint64_t short_by = free_space_shortfall()) target = usage() > short_by ? usage() - short_by : 0;
    if (usage() > target) evict(target);
    lk.lock();
  }
}

void Store::wait_idle() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return scan_done_ && jobs_.empty() && jobs_running_ == 0; });
}

std::string Store::describe_json() {
  size_t open_objects = 0, closed_objects;
  bool scanned;
  {
    std::lock_guard lk(mu_);
    for (auto& [k, w] : open_) open_objects += !w.expired();
    closed_objects = closed_.size();
    scanned = scan_done_;
  }
  uint64_t hit = stats_.hit_bytes.load(), miss = stats_.miss_bytes.load();
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.4f", hit + miss ? static_cast<double>(hit) / static_cast<double>(hit + miss) : 0.0);
  std::string s = "{\"dir\":\"" + opts_.dir + "\",\"usage_bytes\":" + std::to_string(usage()) +
                  ",\"size_limit\":" + std::to_string(opts_.size_limit) + ",\"granule\":" +
                  std::to_string(opts_.granule) + ",\"encrypted\":" + (cipher_ ? "true" : "false") +
                  ",\"open_objects\":" + std::to_string(open_objects) +
                  ",\"closed_objects\":" + std::to_string(closed_objects) + ",\"scan_done\":" +
                  (scanned ? "true" : "false") + ",\"hit_rate\":" + rate + ",\"free_space_shortfall\":" +
                  std::to_string(free_space_shortfall());
  // Directory listings are counted apart: one hit there is a whole listing, not bytes.
  uint64_t lh = stats_.listing_hits.load(), lm = stats_.listing_misses.load();
  std::snprintf(rate, sizeof rate, "%.4f", lh + lm ? static_cast<double>(lh) / static_cast<double>(lh + lm) : 0.0);
  s += std::string(",\"listing_hit_rate\":") + rate;
  Metrics m;
  stats_.collect(m);
  for (const Metric& e : m) s += ",\"" + json_key(e) + "\":" + std::to_string(e.value);
  s += "}";
  return s;
}

Result<std::string> Store::inspect(const std::string& dir) {
  struct stat st {};
  if (::stat((dir + "/objects").c_str(), &st) < 0) return make_error(errno, "not a netfs cache directory");
  uint32_t granule = read_granule_file(dir);
  if (!granule) granule = 64 * 1024;
  uint64_t objects = 0, bytes = 0;
  uint64_t empty = 0;
  // Without the key an encrypted map cannot be read: its data files' sizes say it.
  bool encrypted = ::access((dir + kKeyCheckFile).c_str(), F_OK) == 0;
  for_each_object(dir, granule, nullptr, [&](const std::string& key, uint64_t b, uint64_t) {
    if (encrypted) {
      struct stat ds {};
      if (::stat((dir + "/objects/" + key + ".data").c_str(), &ds) == 0)
        b = static_cast<uint64_t>(ds.st_blocks) * 512 / granule * granule;
    }
    (b ? objects : empty)++;
    bytes += b;
  });
  bool busy = false;
  int fd = ::open((dir + "/lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    busy = ::flock(fd, LOCK_SH | LOCK_NB) < 0;
    ::close(fd);
  }
  return "{\"dir\":\"" + dir + "\",\"usage_bytes\":" + std::to_string(bytes) + ",\"objects\":" +
         std::to_string(objects) + ",\"empty_objects\":" + std::to_string(empty) + ",\"granule\":" +
         std::to_string(granule) + ",\"encrypted\":" + (encrypted ? "true" : "false") + ",\"in_use\":" +
         (busy ? "true" : "false") + "}";
}

Status Store::drop_dir(const std::string& dir) {
  struct stat st {};
  if (::stat((dir + "/objects").c_str(), &st) < 0) return make_error(errno, "not a netfs cache directory");
  int fd = ::open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errno, "open cache lock");
  if (::flock(fd, LOCK_EX | LOCK_NB) < 0) {
    ::close(fd);
    return make_error(EBUSY, "cache dir is in use by a mount: use netfs cache --drop MOUNTPOINT");
  }
  Status out = remove_objects(dir);
  ::close(fd);
  return out;
}

}  // namespace netfs::cache
