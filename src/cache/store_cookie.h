// StoreCookie: one file's data in the Store, implementing the engine's cache::Cookie.
// A data file holds the cached bytes at their file offsets; a ContentMap says which
// granules are present. A granule is present only when every one of its bytes (up to the
// file's end, for the last one) has been written, made durable (fdatasync) and its
// checksum recorded; a read verifies the checksum of each granule it touches, and a bad
// granule is dropped and the read fails over to the server.
//
// Writes (stream 1) run on the Store's writer thread. Every drop (our own write over a
// cached range, a truncate, an invalidation) bumps a sequence number; data issued before
// a drop of its granule is never marked present after it, so stale bytes cannot return.
//
// Encrypted (the Store has a Cipher): a granule is sealed whole, padded to the granule
// size, with the object's name, its index and its length as associated data; its nonce
// and tag go to its map record. A granule written in pieces is gathered in memory until
// complete (no plaintext on disk). A granule that fails to authenticate is dropped, the
// read goes to the server, `auth_failures` counts it and the log says so once per cookie.
//
// Threading: every method is thread-safe (mu_). Disk syncs and reads run outside mu_.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/cipher.h"
#include "cache/coherency.h"
#include "cache/content_map.h"
#include "netfs/cache_cookie.h"
#include "netfs/result.h"

namespace netfs::cache {

class Store;

class StoreCookie : public Cookie, public std::enable_shared_from_this<StoreCookie> {
 public:
  StoreCookie(Store& store, std::string key, int data_fd, std::unique_ptr<ContentMap> map);
  ~StoreCookie() override;
  StoreCookie(const StoreCookie&) = delete;
  StoreCookie& operator=(const StoreCookie&) = delete;

  // Loads the content map, or empties the object when its coherency is not `now`.
  Status open(const Coherency& now);

  // ---- cache::Cookie ----
  bool write_enabled() const override;
  void issue_write(Subrequest& sreq) override;
  void invalidate() override;
  uint64_t present(uint64_t start, uint64_t len) override;  // counts hit_bytes
  void missed(uint64_t start, uint64_t len) override;      // counts miss_bytes
  void issue_read(Subrequest& sreq) override;

  // ---- for the mount ----
  // Our own write or a truncate is about to change [start, start + len): the cached
  // granules there are dropped (the engine may not copy the new bytes: streaming writes).
  void drop_range(uint64_t start, uint64_t len) override;
  // The server now holds what we cached (after our own flush, or an open that found the
  // file unchanged): record its coherency data so a remount keeps the cache.
  Status set_coherency(const Coherency& c);
  // Empties the object if its coherency is not `now` (an open found the file changed).
  void check_coherency(const Coherency& now);

  // ---- synchronous forms of the stream operations (tests, the writer thread) ----
  // Stores bytes at pos; `eof` is the file's size, so that the last granule can complete.
  Status write_bytes(uint64_t pos, const void* data, size_t n, uint64_t eof);
  // Reads n bytes at pos, all from present granules with verified checksums.
  Result<size_t> read_bytes(uint64_t pos, void* out, size_t n);

  // ---- for the Store ----
  const std::string& key() const { return key_; }
  uint64_t charged() const;
  // Evicts up to `want` bytes of granules no reader is using, least recently used first.
  uint64_t evict(uint64_t want);
  size_t present_granules() const;

 private:
  // A partial encrypted granule's bytes, counted in the Store's gather_bytes() for as
  // long as they are held, whichever way the granule goes (completed, dropped, evicted,
  // the cookie closed).
  class Gather {
   public:
    Gather() = default;
    Gather(const Gather&) = delete;
    Gather& operator=(const Gather&) = delete;
    ~Gather() { reset(); }
    // false: n more bytes would pass the limit (nothing taken).
    bool acquire(std::atomic<uint64_t>& counter, uint64_t limit, size_t n) {
      uint64_t cur = counter.load(std::memory_order_relaxed);
      do {
        if (cur + n > limit) return false;
      } while (!counter.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
      counter_ = &counter;
      bytes_.assign(n, std::byte{0});
      return true;
    }
    void reset() {
      if (counter_) counter_->fetch_sub(bytes_.size(), std::memory_order_relaxed);
      counter_ = nullptr;
      std::vector<std::byte>().swap(bytes_);
    }
    bool empty() const { return bytes_.empty(); }
    std::byte* data() { return bytes_.data(); }

   private:
    std::atomic<uint64_t>* counter_ = nullptr;
    std::vector<std::byte> bytes_;
  };

  struct Granule {
    uint32_t len = 0;    // present: valid bytes; 0 while partial
    uint64_t hash = 0;
    uint64_t last_use = 0;
    unsigned readers = 0;
    bool present = false;
    std::vector<std::pair<uint32_t, uint32_t>> have;  // partial: byte ranges written
    Seal seal;                     // encrypted: its nonce and tag
    Gather gather;  // encrypted and partial: the bytes written so far
  };
  struct Done {
    uint64_t index;
    uint32_t len;
    uint64_t hash;
    bool hashed;
    Seal seal;
  };

  using Fetch = void (*)(void* ctx, std::byte* dst, size_t n);  // the next n bytes to store
  Status store_range(uint64_t pos, size_t n, uint64_t eof, uint64_t seq, Fetch fetch, void* ctx);
  using Sink = void (*)(void* ctx, size_t off, const std::byte* src, size_t n);
  Result<size_t> load_range(uint64_t pos, size_t n, Sink sink, void* ctx);
  bool stale_locked(uint64_t index, uint64_t seq) const;
  Status commit(std::vector<Done>& done, uint64_t seq);
  void drop_locked(uint64_t index);
  void empty_locked(const Coherency& c);
  void note_io_error();
  // Encrypted: seals buf (n valid bytes, padded with zeros to a granule) and writes it.
  Status seal_and_write(uint64_t index, std::byte* buf, uint32_t n, Seal* out);
  Aad granule_aad(uint64_t index, uint32_t len) const;
  void note_auth_failure(uint64_t index);
  uint64_t begin_write();     // takes a seq for a write about to start
  void end_write();

  Store& store_;
  const std::string key_;
  const int data_fd_;
  const uint32_t granule_;
  mutable std::mutex mu_;
  std::unique_ptr<ContentMap> map_;
  std::map<uint64_t, Granule> granules_;             // present or partial; each charged one granule
  std::unordered_map<uint64_t, uint64_t> dropped_;   // index -> seq of its last drop
  std::vector<std::pair<uint64_t, uint64_t>> tail_drops_;  // (first index, seq): truncates
  uint64_t seq_ = 1;          // bumped by every drop
  unsigned writes_in_flight_ = 0;  // writes holding a seq: drop records matter only to them
  uint64_t emptied_seq_ = 0;  // seq of the last whole-object drop
  bool map_dirty_ = false;    // records cleared since the last map sync
  bool broken_ = false;       // an I/O error: stop writing until reopened
  const Cipher* const cipher_;  // null: a plain cache
  bool auth_logged_ = false;    // an authentication failure was logged
};

}  // namespace netfs::cache
