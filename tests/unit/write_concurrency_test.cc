// Several threads writing and fsyncing one file at once, with a flusher and async
// write-backs running, against an asynchronous backend that completes out of order and
// injects transient faults. Each thread owns a stripe of 1000-byte blocks (so stripes
// share folios and write-back requests) and keeps its own model; after the final fsync
// the server holds every thread's last bytes. Run under TSan in CI.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "write_fixture.h"

namespace netfs::testing {
namespace {

struct ConcurrencyParams {
  size_t folio_size;
  size_t max_len;
  WriteMode mode;
};

class WriteConcurrency : public ::testing::TestWithParam<ConcurrencyParams> {};

TEST_P(WriteConcurrency, ThreadsWritingStripesOfOneFileAllLand) {
  const ConcurrencyParams p = GetParam();
  MemoryBackend::Config bc;
  bc.max_len = p.max_len;
  bc.async = true;
  bc.shuffle = true;
  bc.threads = 3;
  bc.seed = 7;
  MemoryBackend backend(bc);
  std::mutex fault_mu;
  std::mt19937 frng(11);
  backend.set_fault_fn([&](const Call& c) {
    std::lock_guard lk(fault_mu);
    Fault f;
    unsigned r = frng() % 100;
    if (c.retry_count < 2 && r < 5) {
      f.kind = Fault::kError;
      f.errnum = EAGAIN;
    } else if (r < 10 && c.len > 1) {
      f.kind = Fault::kShort;
      f.short_len = 1 + frng() % (c.len - 1);
    }
    return f;
  });
  Options o;
  o.folio_size = p.folio_size;
  o.retry_backoff = std::chrono::milliseconds(0);
  o.dirty_limit = 256 * 1024;  // small: writers get throttled
  o.writeback_delay = std::chrono::milliseconds(1);
  auto engine = std::make_unique<Engine>(o);
  auto inode = engine->new_inode(backend, 1, 0);
  auto flusher = std::make_unique<Flusher>(*engine);

  constexpr unsigned kThreads = 4;
  constexpr size_t kBlock = 1000;
  constexpr size_t kBlocksPerThread = 200;
  const uint64_t file_size = kThreads * kBlocksPerThread * kBlock;
  std::vector<std::vector<std::byte>> models(kThreads, std::vector<std::byte>(kBlocksPerThread * kBlock));
  std::atomic<bool> failed{false};

  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      Errseq::Cursor cursor = inode->wb_err().sample();
      auto write_block = [&](size_t b, unsigned salt) {
        auto data = pattern(kBlock, salt);
        uint64_t pos = (b * kThreads + t) * kBlock;
        auto r = perform_write(*inode, pos, data.data(), kBlock, p.mode);
        if (!r.ok() || *r != kBlock) {
          failed = true;
          return;
        }
        std::copy(data.begin(), data.end(), models[t].begin() + static_cast<ptrdiff_t>(b * kBlock));
      };
      for (size_t b = 0; b < kBlocksPerThread; b++) write_block(b, t * 100000 + unsigned(b));
      for (int i = 0; i < 600 && !failed; i++) {
        unsigned r = rng() % 100;
        if (r < 85) {
          write_block(rng() % kBlocksPerThread, rng());
        } else if (r < 95) {
          (void)writepages(*inode, WritebackControl{});
        } else if (!fsync(*inode, cursor).ok()) {
          failed = true;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_FALSE(failed.load());
  Errseq::Cursor cursor = 0;
  ASSERT_TRUE(fsync(*inode, cursor).ok());
  flusher.reset();
  backend.drain();

  auto server = backend.contents(1);
  ASSERT_EQ(server.size(), file_size);
  for (unsigned t = 0; t < kThreads; t++)
    for (size_t b = 0; b < kBlocksPerThread; b++) {
      uint64_t pos = (b * kThreads + t) * kBlock;
      ASSERT_TRUE(std::equal(server.begin() + static_cast<ptrdiff_t>(pos),
                             server.begin() + static_cast<ptrdiff_t>(pos + kBlock),
                             models[t].begin() + static_cast<ptrdiff_t>(b * kBlock)))
          << "thread " << t << " block " << b;
    }
  EXPECT_EQ(engine->dirty_bytes(), 0u);
  inode.reset();
  engine.reset();
}

INSTANTIATE_TEST_SUITE_P(Modes, WriteConcurrency,
                         ::testing::Values(ConcurrencyParams{4096, 16384, WriteMode::kWriteBack},
                                           ConcurrencyParams{16384, 5000, WriteMode::kWriteBack},
                                           ConcurrencyParams{4096, 65536, WriteMode::kWriteThrough}));

}  // namespace
}  // namespace netfs::testing
