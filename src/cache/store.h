// Store: the local persistent cache of file contents in one directory, after the kernel's
// fscache + cachefiles. It hands out one StoreCookie per file (keyed by the server's
// identity and the file's qid.path), runs the cookies' disk writes on its own writer
// thread (so stream 1 never blocks the engine's issuers), and keeps the cache within a
// size limit and above a free-space floor by evicting least-recently-used data on a
// janitor thread.
//
// Layout (docs/cache.md):
//   DIR/lock                        flock'd by the one process using the directory
//   DIR/objects/SERVER/QID.data     the file's cached bytes at their own offsets (sparse)
//   DIR/objects/SERVER/QID.map      its ContentMap
//   DIR/objects/SERVER/server       the server identity SERVER (a hash) stands for
//   DIR/keycheck                    encrypted caches: the key check record (key_check.h)
//
// With a key file (`-o cache_key`), every block is sealed (cipher.h) and SERVER and QID
// are keyed hashes; there is no `server` file. A directory written with another key, or
// without one, is emptied at open (or refused, with refuse_mismatch): never misread.
//
// Start-up reads nothing but the lock: usage of files not opened yet is learnt by the
// janitor's scan in the background, and eviction of closed files waits for it.
//
// Threading: every public method is thread-safe. Lock order: Store::mu_ before a
// cookie's mutex; a cookie never calls into the Store while holding its own.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cache/cipher.h"
#include "cache/coherency.h"
#include "cache/store_stats.h"
#include "netfs/result.h"

namespace netfs::cache {

class StoreCookie;

// Granule sizes a cache accepts, from the options or from DIR/granule.
inline constexpr uint32_t kMinGranule = 4096;
inline constexpr uint32_t kMaxGranule = 1u << 20;

struct StoreOptions {
  std::string dir;
  uint64_t size_limit = 1ull << 30;  // bytes of cached data (granules) at most
  uint64_t min_free = 0;             // free bytes to leave on the filesystem; 0: 2% of it
  uint32_t granule = 64 * 1024;      // power of two, kMinGranule..kMaxGranule
  bool janitor = true;               // background scan and eviction (off in some tests)
  // Encrypted: memory for granules written in pieces, gathered until complete, across
  // all files. Past it a new partial granule is not cached (gather_refused counts it).
  uint64_t gather_limit = 64ull << 20;
  std::string key_file;              // "": a plain cache; else the key (cache_key.h)
  // A directory written with another key, or encrypted and opened without one, or plain
  // and opened with one: emptied (false) or refused with EKEYREJECTED (true).
  bool refuse_mismatch = false;
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(StoreOptions opts);
  ~Store();  // Requires: every cookie released.
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The cookie of one file. If what the cache holds for it was stored under other
  // coherency data than `now`, it is emptied first.
  Result<std::shared_ptr<StoreCookie>> cookie(std::string_view server, uint64_t qid_path, const Coherency& now);
  // Whether the cache holds an object for this key (open, or on disk), without creating
  // one: invalidating an object that is not there should cost no files.
  bool has_object(std::string_view server, uint64_t qid_path);

  const StoreOptions& options() const { return opts_; }
  uint32_t granule() const { return opts_.granule; }
  const Cipher* cipher() const { return cipher_.get(); }
  StoreStats& stats() { return stats_; }
  uint64_t usage() const { return static_cast<uint64_t>(usage_.load()); }
  // Bytes held by partial encrypted granules now (at most options().gather_limit).
  std::atomic<uint64_t>& gather_bytes() { return gather_bytes_; }
  // Bytes the free-space floor asks for now (statvfs).
  uint64_t free_space_shortfall() const;

  // Evicts least-recently-used data until usage is at most `target` bytes: closed files
  // first (whole), then granules of open files that no reader is using. Returns bytes freed.
  uint64_t evict(uint64_t target);
  // Empties the cache: closed files are deleted, open ones emptied.
  Status drop_all();
  // Waits until queued writes are done and the start-up scan has finished (tests, drop).
  void wait_idle();
  // Usage, limits and counters as one JSON object.
  std::string describe_json();

  // Without a running mount: describe a cache directory, or empty it (EBUSY when a
  // mount is using it).
  static Result<std::string> inspect(const std::string& dir);
  static Status drop_dir(const std::string& dir);

  // ---- for StoreCookie ----
  void submit(std::function<void()> job);
  // Charges `bytes` of new cached data; evicts if that goes over the limit. false: no
  // room (the caller does not store the data).
  bool reserve(uint64_t bytes);
  void release(uint64_t bytes) { usage_.fetch_sub(static_cast<int64_t>(bytes)); }
  // Charges bytes already on disk (an object opened with its content).
  void charge(uint64_t bytes) { usage_.fetch_add(static_cast<int64_t>(bytes)); }
  uint64_t tick() { return tick_.fetch_add(1, std::memory_order_relaxed) + 1; }
  void cookie_closed(const std::string& key, uint64_t bytes, uint64_t when_ns);

 private:
  Store(StoreOptions opts, int lock_fd, std::unique_ptr<Cipher> cipher);
  std::string object_key(std::string_view server, uint64_t qid_path) const;
  void writer_loop();
  void janitor_loop();
  void scan();
  std::string object_path(const std::string& key) const;
  uint64_t evict_closed_locked(uint64_t target, std::unique_lock<std::mutex>& lk);

  struct Closed {
    uint64_t bytes = 0;
    uint64_t last_use_ns = 0;
  };

  const StoreOptions opts_;
  const int lock_fd_;
  const std::unique_ptr<Cipher> cipher_;
  StoreStats stats_;
  std::atomic<int64_t> usage_{0};
  std::atomic<uint64_t> gather_bytes_{0};
  std::atomic<uint64_t> tick_{0};
  std::atomic<uint64_t> reserves_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::weak_ptr<StoreCookie>> open_;
  std::map<std::string, Closed> closed_;  // known closed objects (after the scan)
  bool scan_done_ = false;
  std::deque<std::function<void()>> jobs_;
  size_t jobs_running_ = 0;
  bool stop_ = false;
  bool kick_ = false;
  std::thread writer_;
  std::thread janitor_;
};

}  // namespace netfs::cache
