// Read-path benchmark, ratios against baselines measured in the same run:
//
//  1. Cached read: 1 GiB already in folios, read again in 1 MiB calls, against memcpy of
//     1 GiB from a pre-faulted buffer into a 1 MiB one (the same copy pattern).
//  2. Readahead: a cold sequential read from the in-memory backend with 200 µs latency per
//     call (completed on the backend's timer threads, so calls overlap like RPCs on a
//     pipelined connection), with readahead against readahead disabled.
//  3. Memory budget: a 4 GiB sequential read under a 256 MiB budget from a synthetic
//     backend that stores nothing; the process's resident memory growth and the engine's
//     folio bytes against the budget.
//
// Usage: read_bench [--quick]   (--quick: smaller sizes, for a smoke run)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "fakes/memory_backend.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/read.h"
#include "netfs/request.h"
#include "netfs/request_ops.h"
#include "netfs/stats.h"

using namespace netfs;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
double mib_s(uint64_t bytes, double s) { return static_cast<double>(bytes) / (1 << 20) / s; }

uint64_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * 4096;
}

// memcpy of `bytes` from a buffer that large into one 1 MiB buffer: the same pattern as
// reading a cached file in 1 MiB calls.
double memcpy_bandwidth(size_t bytes) {
  std::vector<std::byte> src(bytes, std::byte{1}), dst(1 << 20, std::byte{2});
  double best = 0;
  for (int r = 0; r < 3; r++) {
    auto t0 = Clock::now();
    for (size_t off = 0; off < bytes; off += 1 << 20) std::memcpy(dst.data(), src.data() + off, 1 << 20);
    best = std::max(best, mib_s(bytes, seconds_since(t0)));
  }
  return best;
}

// Reads [0, size) sequentially in `chunk` calls; returns MiB/s. Exits on error.
double read_through(Inode& inode, uint64_t size, size_t chunk, uint64_t* peak_rss = nullptr,
                    uint64_t* peak_folios = nullptr) {
  std::vector<std::byte> buf(chunk);
  ReadaheadState ra;
  auto t0 = Clock::now();
  for (uint64_t pos = 0; pos < size;) {
    auto r = buffered_read(inode, ra, pos, buf.data(), chunk);
    if (!r.ok() || *r == 0) {
      std::fprintf(stderr, "read failed at %llu\n", static_cast<unsigned long long>(pos));
      std::exit(1);
    }
    pos += *r;
    if (peak_rss && (pos & ((64 << 20) - 1)) == 0) {
      *peak_rss = std::max(*peak_rss, rss_bytes());
      *peak_folios = std::max(*peak_folios, inode.engine().resident_bytes());
    }
  }
  return mib_s(size, seconds_since(t0));
}

// A backend whose file is a function of the position: stores nothing, completes inline.
class SyntheticBackend : public RequestOps {
 public:
  void prepare_read(Subrequest& sreq) override { sreq.set_max_len(1 << 20); }
  void issue_read(Subrequest& sreq) override {
    IoIter it = sreq.io();
    size_t n = it.count();
    it.zero(n);
    sreq.terminated(static_cast<int64_t>(n));
  }
  void issue_write(Subrequest& sreq) override { sreq.terminated(-EROFS); }
  Status set_size(Inode&, uint64_t) override { return make_error(EROFS, "read-only"); }
};

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const uint64_t cached_size = quick ? 64ull << 20 : 1ull << 30;
  const uint64_t latency_size = quick ? 16ull << 20 : 64ull << 20;
  const uint64_t budget_size = quick ? 512ull << 20 : 4ull << 30;
  std::printf("read_bench%s\n", quick ? " (quick)" : "");

  // 3. Memory budget (first, so the process's memory has not been grown by the others).
  {
    SyntheticBackend backend;
    Options o;
    o.memory_limit = 256ull << 20;
    Engine engine(o);
    auto inode = engine.new_inode(backend, 1, budget_size);
    uint64_t base = rss_bytes(), peak_rss = base, peak_folios = 0;
    double speed = read_through(*inode, budget_size, 1 << 20, &peak_rss, &peak_folios);
    double over = static_cast<double>(peak_rss - base) / static_cast<double>(o.memory_limit);
    std::printf("%llu MiB read under a 256 MiB budget: %.0f MiB/s, peak folio bytes %llu MiB, RSS growth %llu MiB "
                "= %.1f%% of the budget (target <= 110%%), evicted %llu folios\n",
                static_cast<unsigned long long>(budget_size >> 20), speed,
                static_cast<unsigned long long>(peak_folios >> 20),
                static_cast<unsigned long long>((peak_rss - base) >> 20), 100 * over,
                static_cast<unsigned long long>(read(engine.stats().mem_evicted)));
  }
  // 1. Cached read against memcpy.
  {
    testing::MemoryBackend::Config bc;
    bc.max_len = 1 << 20;
    testing::MemoryBackend backend(bc);
    backend.set_contents(1, std::vector<std::byte>(cached_size, std::byte{7}));
    Options o;
    o.memory_limit = cached_size * 2;
    Engine engine(o);
    auto inode = engine.new_inode(backend, 1, cached_size);
    double cold = read_through(*inode, cached_size, 1 << 20);
    double warm = 0;
    for (int r = 0; r < 3; r++) warm = std::max(warm, read_through(*inode, cached_size, 1 << 20));
    double mc = memcpy_bandwidth(cached_size);
    std::printf("cached read %llu MiB: %.0f MiB/s, memcpy %.0f MiB/s, ratio %.2f (target >= 0.50); cold %.0f MiB/s\n",
                static_cast<unsigned long long>(cached_size >> 20), warm, mc, warm / mc, cold);
  }

  // 2. Readahead against none, 200 µs per call.
  for (size_t folio : {size_t{4096}, size_t{65536}}) {
    double speed[2];
    for (int ra_on = 0; ra_on < 2; ra_on++) {
      testing::MemoryBackend::Config bc;
      bc.max_len = 64 * 1024;  // what diod's msize allows per RPC
      bc.async = true;
      bc.threads = 2;
      testing::MemoryBackend backend(bc);
      backend.set_contents(1, std::vector<std::byte>(latency_size, std::byte{3}));
      backend.set_fault_fn([](const testing::Call&) {
        testing::Fault f;
        f.delay = std::chrono::microseconds(200);
        return f;
      });
      Options o;
      o.folio_size = folio;
      if (!ra_on) o.readahead_max = 0;
      Engine engine(o);
      auto inode = engine.new_inode(backend, 1, latency_size);
      speed[ra_on] = read_through(*inode, latency_size, 16384);
      backend.drain();
    }
    std::printf("cold read, 200 us/call, %zu KiB folios, 16 KiB reads: readahead %.0f MiB/s, none %.1f MiB/s, "
                "ratio %.1f (target >= 10)\n",
                folio / 1024, speed[1], speed[0], speed[1] / speed[0]);
  }

  return 0;
}
