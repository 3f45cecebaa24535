// MemoryBackend: an in-memory RequestOps for tests and benchmarks, with per-call fault
// injection: errors (transient or permanent), short transfers, zero-progress replies,
// delays and out-of-order completion. Files are byte vectors keyed by backend_id.
//
// Faults come from a FaultFn the test installs (scripted or seeded-random; the seed is
// the test's to print). Completion is inline (synchronous, inside issue_*) or on the
// backend's own completion threads, after an optional delay, optionally in shuffled order.
//
// Threading: every method is thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "netfs/request.h"
#include "netfs/request_ops.h"

namespace netfs::testing {

struct Call {
  bool write;
  uint64_t id;
  uint64_t pos;
  size_t len;
  unsigned retry_count;
  uint8_t stream;
};

struct Fault {
  enum Kind { kNone, kError, kShort, kZero } kind = kNone;
  int errnum = 0;       // kError
  size_t short_len = 0; // kShort: bytes actually moved (< len)
  std::chrono::microseconds delay{0};
};

using FaultFn = std::function<Fault(const Call&)>;

struct MemoryBackendConfig {
  size_t max_len = 0;      // per-subrequest limit set in prepare_* (0 = none)
  size_t max_segs = 0;
  bool async = false;      // complete on backend threads instead of inline
  bool shuffle = false;    // async: complete ready calls in random order
  unsigned threads = 2;
  uint64_t seed = 1;
};

class MemoryBackend : public RequestOps {
 public:
  using Config = MemoryBackendConfig;
  MemoryBackend() : MemoryBackend(Config{}) {}
  explicit MemoryBackend(Config cfg);
  ~MemoryBackend() override;

  void prepare_write(Subrequest& sreq) override;
  void issue_write(Subrequest& sreq) override;
  void prepare_read(Subrequest& sreq) override;
  void issue_read(Subrequest& sreq) override;
  Status set_size(Inode& inode, uint64_t size) override;

  void set_fault_fn(FaultFn fn);
  // Makes set_size fail with this errno (0 = succeed).
  void set_size_error(int errnum);
  void set_max_len(size_t n);

  std::vector<std::byte> contents(uint64_t id);
  void set_contents(uint64_t id, std::vector<std::byte> data);
  // Pre-allocates and touches a file's storage so benchmarks measure copies, not faults.
  void reserve(uint64_t id, size_t n);

  struct Counts {
    uint64_t write_calls = 0, read_calls = 0, write_bytes = 0, read_bytes = 0;
    std::vector<size_t> write_lens;  // length of every write call, in order
  };
  Counts counts();
  void reset_counts();
  // Waits until no completion is pending on the backend's threads.
  void drain();
  // Async only: while paused, issued calls wait and complete nothing (a server that is
  // gone); resume() lets them complete. pending() counts calls issued and not yet run.
  void pause();
  void resume();
  size_t pending();

 private:
  struct File {
    std::vector<std::byte> data;
    size_t size = 0;
  };
  void complete(std::function<void()> fn, std::chrono::microseconds delay);
  void worker();
  Fault fault_for(const Call& c);

  Config cfg_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::map<uint64_t, File> files_;
  FaultFn fault_fn_;
  int size_error_ = 0;
  Counts counts_;
  struct Pending {
    std::chrono::steady_clock::time_point due;
    std::function<void()> fn;
  };
  std::vector<Pending> pending_;
  unsigned running_ = 0;
  bool paused_ = false;
  bool stop_ = false;
  std::mt19937_64 rng_;
  std::vector<std::thread> threads_;
};

}  // namespace netfs::testing
