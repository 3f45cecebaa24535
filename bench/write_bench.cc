// Write-path benchmark: figures and ratios measured in one run, because the machines are
// shared and noisy.
//
//  1. Write-back bandwidth: 1 GiB of dirty folios written back to the in-memory backend
//     (max length 1 MiB) by one fsync, against memcpy of 1 GiB between two pre-faulted
//     buffers. The backend's own copy is the floor of the cost, so 100% would mean the
//     engine adds nothing. Also the whole path (perform_write + fsync), which copies twice.
//  2. Coalescing: 4 KiB writes in shuffled order covering a contiguous range; the average
//     upload subrequest against max length.
//
// Usage: write_bench [--size-mib N] [--runs N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "fakes/memory_backend.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/stats.h"
#include "netfs/write.h"

using namespace netfs;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
double mib_s(uint64_t bytes, double s) { return static_cast<double>(bytes) / (1 << 20) / s; }

std::vector<std::byte> touched(size_t n, int fill) {
  std::vector<std::byte> v(n);
  std::memset(v.data(), fill, n);
  return v;
}

// memcpy bandwidth in MiB/s: the best of `runs` copies of `bytes` in 1 MiB chunks (the
// chunk size the engine's subrequests use).
double memcpy_bandwidth(size_t bytes, int runs) {
  auto src = touched(bytes, 1), dst = touched(bytes, 2);
  double best = 0;
  for (int r = 0; r < runs; r++) {
    auto t0 = Clock::now();
    for (size_t off = 0; off < bytes; off += 1 << 20)
      std::memcpy(dst.data() + off, src.data() + off, std::min<size_t>(1 << 20, bytes - off));
    best = std::max(best, mib_s(bytes, seconds_since(t0)));
  }
  return best;
}

struct WritebackFigures {
  double writeback_mib_s = 0;  // fsync of already dirty data
  double end_to_end_mib_s = 0; // perform_write + fsync
  double avg_subreq = 0;
};

WritebackFigures writeback_bandwidth(size_t bytes, int runs) {
  WritebackFigures best;
  auto src = touched(bytes, 3);
  for (int r = 0; r < runs; r++) {
    testing::MemoryBackend::Config bc;
    bc.max_len = 1 << 20;
    testing::MemoryBackend backend(bc);
    backend.reserve(1, bytes);
    Options o;
    o.dirty_limit = bytes * 2;  // measure write-back, not throttling
    Engine engine(o);
    auto inode = engine.new_inode(backend, 1, 0);
    auto t0 = Clock::now();
    for (size_t off = 0; off < bytes; off += 1 << 20) {
      auto w = perform_write(*inode, off, src.data() + off, std::min<size_t>(1 << 20, bytes - off));
      if (!w.ok()) {
        std::fprintf(stderr, "write failed: %s\n", w.error().message().c_str());
        std::exit(1);
      }
    }
    auto t1 = Clock::now();
    Errseq::Cursor cursor = 0;
    if (Status st = fsync(*inode, cursor); !st.ok()) {
      std::fprintf(stderr, "fsync failed: %s\n", st.error().message().c_str());
      std::exit(1);
    }
    double wb = mib_s(bytes, seconds_since(t1));
    double e2e = mib_s(bytes, seconds_since(t0));
    if (backend.contents(1) != src) {
      std::fprintf(stderr, "server bytes differ\n");
      std::exit(1);
    }
    best.writeback_mib_s = std::max(best.writeback_mib_s, wb);
    best.end_to_end_mib_s = std::max(best.end_to_end_mib_s, e2e);
    best.avg_subreq = static_cast<double>(read(engine.stats().upload_bytes)) /
                      static_cast<double>(read(engine.stats().upload_subreqs));
  }
  return best;
}

// 4 KiB writes in shuffled order over `bytes`, one fsync: the average upload subrequest.
double shuffled_coalescing(size_t bytes, size_t max_len, size_t* subreqs) {
  testing::MemoryBackend::Config bc;
  bc.max_len = max_len;
  testing::MemoryBackend backend(bc);
  Options o;
  o.dirty_limit = bytes * 2;
  Engine engine(o);
  auto inode = engine.new_inode(backend, 1, 0);
  std::vector<size_t> blocks(bytes / 4096);
  std::iota(blocks.begin(), blocks.end(), size_t{0});
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937(42));
  auto buf = touched(4096, 5);
  for (size_t b : blocks)
    if (!perform_write(*inode, b * 4096, buf.data(), 4096).ok()) std::exit(1);
  Errseq::Cursor cursor = 0;
  if (!fsync(*inode, cursor).ok()) std::exit(1);
  *subreqs = read(engine.stats().upload_subreqs);
  return static_cast<double>(read(engine.stats().upload_bytes)) / static_cast<double>(*subreqs);
}

}  // namespace

int main(int argc, char** argv) {
  size_t size_mib = 1024;
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--size-mib") size_mib = std::strtoull(argv[i + 1], nullptr, 0);
    else if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--size-mib N] [--runs N]\n", argv[0]);
      return 2;
    }
  }
  const size_t bytes = size_mib << 20;
  std::printf("write_bench: %zu MiB, best of %d runs, in-memory backend, max_len 1 MiB\n", size_mib, runs);
  double mc = memcpy_bandwidth(bytes, runs);
  auto wb = writeback_bandwidth(bytes, runs);
  std::printf("memcpy                      %8.0f MiB/s\n", mc);
  std::printf("write-back (fsync of dirty) %8.0f MiB/s  ratio to memcpy %.2f  (target >= 0.50)\n",
              wb.writeback_mib_s, wb.writeback_mib_s / mc);
  std::printf("perform_write + fsync       %8.0f MiB/s  ratio to memcpy %.2f  (two copies)\n",
              wb.end_to_end_mib_s, wb.end_to_end_mib_s / mc);
  std::printf("average upload subrequest   %8.0f KiB\n", wb.avg_subreq / 1024);
  size_t n = 0;
  const size_t max_len = 1 << 20;
  double avg = shuffled_coalescing(std::min<size_t>(bytes, 256 << 20), max_len, &n);
  std::printf("shuffled 4 KiB writes: %zu subrequests, average %.0f KiB = %.1f%% of max_len (target >= 90%%)\n", n,
              avg / 1024, 100.0 * avg / static_cast<double>(max_len));
  bool ok = wb.writeback_mib_s / mc >= 0.5 && avg / static_cast<double>(max_len) >= 0.9;
  std::printf("%s\n", ok ? "targets met" : "TARGETS MISSED");
  return 0;
}
