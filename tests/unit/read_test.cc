// Read path: buffered reads with readahead, progressive collection, short reads, retries,
// EOF zero-fill, streaming-write merge, cache as a source, unbuffered and single reads,
// invalidation that keeps dirty data, and the memory budget.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "netfs/read.h"
#include "write_fixture.h"

namespace netfs::testing {
namespace {

class ReadPath : public WriteFixture {
 protected:
  // A server file of n pattern bytes, and an inode that knows its size.
  std::vector<std::byte> serve(size_t n, Options o = {}, MemoryBackend::Config bc = {}, bool cookie = false) {
    make(o, bc, cookie);
    auto data = pattern(n, 77);
    backend_->set_contents(1, data);
    inode_ = engine_->new_inode(*backend_, 1, n, cookie_.get());
    return data;
  }
  std::vector<std::byte> read_all(uint64_t pos, size_t len, size_t chunk) {
    std::vector<std::byte> out;
    ReadaheadState ra;
    std::vector<std::byte> buf(chunk);
    while (out.size() < len) {
      auto r = buffered_read(*inode_, ra, pos + out.size(), buf.data(), std::min(chunk, len - out.size()));
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
      if (!r.ok() || *r == 0) break;
      out.insert(out.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*r));
    }
    return out;
  }
};

TEST_F(ReadPath, SequentialColdReadReturnsServerBytesAndReadsAhead) {
  MemoryBackend::Config bc;
  bc.max_len = 32768;
  bc.async = true;
  bc.shuffle = true;
  Options o;
  o.folio_size = 16384;
  auto data = serve(3 * 1024 * 1024 + 1234, o, bc);
  auto got = read_all(0, data.size(), 10000);
  ASSERT_EQ(got, data);
  EXPECT_LE(read(stats().req_readahead), 40u) << "the window grows, so few requests";
  // Every read RPC but the last of a window carries max_len.
  EXPECT_GE(read(stats().download_bytes), data.size());
  auto again = read_all(0, data.size(), 65536);
  EXPECT_EQ(again, data);
  EXPECT_GT(read(stats().read_hits), 0u);
}

// FUSE's parallel readahead delivers reads slightly out of order: that is still a
// sequential reader, and the window keeps growing.
TEST_F(ReadPath, SlightlyOutOfOrderReadsStillReadAhead) {
  auto data = serve(8 << 20);
  ReadaheadState ra;
  std::vector<std::byte> buf(128 * 1024);
  for (size_t pair = 0; pair < 32; pair++)
    for (size_t k : {1, 0}) {
      uint64_t pos = (pair * 2 + k) * buf.size();
      auto r = buffered_read(*inode_, ra, pos, buf.data(), buf.size());
      ASSERT_TRUE(r.ok());
      ASSERT_TRUE(std::equal(buf.begin(), buf.end(), data.begin() + static_cast<ptrdiff_t>(pos)));
    }
  EXPECT_LE(read(stats().req_readahead), 12u);
  // A real jump is random access: the window starts small again.
  uint64_t before = read(stats().download_bytes);
  std::vector<std::byte> small(4096);
  auto r = buffered_read(*inode_, ra, 0, small.data(), small.size());  // cached: no I/O
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(read(stats().download_bytes), before);
  EXPECT_LE(ra.window, 256u * 1024);
}

TEST_F(ReadPath, ReadPastEofIsShortAndPartialFolioIsZeroFilled) {
  auto data = serve(70000);
  std::vector<std::byte> buf(100000);
  ReadaheadState ra;
  auto r = buffered_read(*inode_, ra, 60000, buf.data(), buf.size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 10000u);
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + 10000, data.begin() + 60000));
  auto r2 = buffered_read(*inode_, ra, 70000, buf.data(), 10);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(*r2, 0u);
  // The tail folio's bytes past EOF read as zero when the file grows by a write.
  std::vector<std::byte> one{std::byte{1}};
  write(80000, one);
  auto r3 = buffered_read(*inode_, ra, 69990, buf.data(), 20000);
  ASSERT_TRUE(r3.ok());
  ASSERT_EQ(*r3, 10011u);
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + 10, data.begin() + 69990));
  for (size_t i = 10; i < 10010; i++) ASSERT_EQ(buf[i], std::byte{0}) << i;
  EXPECT_EQ(buf[10010], std::byte{1});
}

TEST_F(ReadPath, ShortReadsAndTransientErrorsAreRetriedAndCounted) {
  MemoryBackend::Config bc;
  bc.max_len = 8192;
  auto data = serve(200000, {}, bc);
  std::atomic<int> calls{0};
  backend_->set_fault_fn([&](const Call& c) {
    Fault f;
    if (c.write) return f;
    int n = ++calls;  // called from the reader and from the collector's retries
    if (n % 3 == 1) {
      f.kind = Fault::kShort;
      f.short_len = c.len / 3 + 1;
    } else if (n % 3 == 2 && c.retry_count == 0) {
      f.kind = Fault::kError;
      f.errnum = ECONNRESET;
    }
    return f;
  });
  EXPECT_EQ(read_all(0, data.size(), 50000), data);
  EXPECT_GT(read(stats().read_retry_subreq), 0u);
  EXPECT_GT(read(stats().download_short_), 0u);
}

TEST_F(ReadPath, PermanentErrorIsReportedAndNothingIsCachedAsUptodate) {
  auto data = serve(100000);
  backend_->set_fault_fn([&](const Call& c) {
    Fault f;
    if (!c.write) {
      f.kind = Fault::kError;
      f.errnum = EIO;
    }
    return f;
  });
  std::vector<std::byte> buf(4096);
  ReadaheadState ra;
  auto r = buffered_read(*inode_, ra, 0, buf.data(), buf.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().errnum, EIO);
  backend_->set_fault_fn(nullptr);
  EXPECT_EQ(read_all(0, data.size(), 4096), data);
}

TEST_F(ReadPath, RetryThatMakesNoProgressIsAbandoned) {
  auto data = serve(100000);
  backend_->set_fault_fn([&](const Call& c) {
    Fault f;
    if (!c.write) {
      f.kind = Fault::kError;
      f.errnum = EAGAIN;  // retryable forever: the hard cap must stop it
    }
    return f;
  });
  std::vector<std::byte> buf(4096);
  ReadaheadState ra;
  auto r = buffered_read(*inode_, ra, 0, buf.data(), buf.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().errnum, EAGAIN);
  EXPECT_GE(read(stats().read_retry_subreq), 10u);
}

TEST_F(ReadPath, StreamingWriteKeepsItsBytesWhenTheRestIsRead) {
  Options o;
  o.folio_size = 65536;
  auto data = serve(200000, o);
  auto mine = pattern(1000, 5);
  write(5000, mine);  // a partial write into a folio never read: streaming
  auto got = read_all(0, data.size(), 65536);
  auto want = data;
  std::copy(mine.begin(), mine.end(), want.begin() + 5000);
  ASSERT_EQ(got, want);
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(server(), want);
}

TEST_F(ReadPath, CacheServesWhatItHoldsAndFailuresFallBackToTheServer) {
  auto data = serve(300000, {}, {}, true);
  // The cache holds the first 128 KiB (stale-looking bytes prove where they came from).
  auto cached = pattern(131072, 9);
  cookie_->preload(0, cached);
  auto got = read_all(0, 200000, 200000);
  ASSERT_EQ(got.size(), 200000u);
  EXPECT_TRUE(std::equal(cached.begin(), cached.end(), got.begin()));
  EXPECT_TRUE(std::equal(got.begin() + 131072, got.end(), data.begin() + 131072));
  EXPECT_GE(read(stats().cache_read_bytes), 131072u);

  // A cache read failure re-reads from the server.
  make({}, {}, true);
  backend_->set_contents(1, data);
  inode_ = engine_->new_inode(*backend_, 1, data.size(), cookie_.get());
  cookie_->preload(0, cached);
  cookie_->fail_reads(EIO);
  EXPECT_EQ(read_all(0, data.size(), 100000), data);
}

TEST_F(ReadPath, UnbufferedReadSeesDirtyBytesWithoutWritingThemBack) {
  auto data = serve(100000);
  auto mine = pattern(3000, 3);
  write(50000, mine);
  write(120000, mine);  // extends the file past the server's end
  std::vector<std::byte> buf(130000);
  auto r = unbuffered_read(*inode_, 0, buf.data(), buf.size());
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(*r, 123000u);
  auto want = data;
  want.resize(123000);
  std::copy(mine.begin(), mine.end(), want.begin() + 50000);
  std::copy(mine.begin(), mine.end(), want.begin() + 120000);
  buf.resize(123000);
  EXPECT_EQ(buf, want);
  EXPECT_EQ(backend_->counts().write_calls, 0u);
}

TEST_F(ReadPath, ReadSingleReadsTheObjectInOnePiece) {
  MemoryBackend::Config bc;
  bc.max_len = 4096;  // ignored for single objects
  auto data = serve(50000, {}, bc);
  std::vector<std::byte> buf(60000);
  auto r = read_single(*inode_, buf.data(), buf.size());
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(*r, data.size());
  buf.resize(*r);
  EXPECT_EQ(buf, data);
  EXPECT_EQ(backend_->counts().read_calls, 1u);
}

TEST_F(ReadPath, InvalidationDropsCleanDataAndKeepsDirtyData) {
  auto data = serve(300000);
  ASSERT_EQ(read_all(0, data.size(), 65536), data);
  auto mine = pattern(2000, 8);
  write(70000, mine);
  // The server's copy changes behind our back.
  auto theirs = pattern(300000, 99);
  backend_->set_contents(1, theirs);
  revalidate(*inode_, theirs.size(), true);
  auto want = theirs;
  std::copy(mine.begin(), mine.end(), want.begin() + 70000);
  EXPECT_EQ(read_all(0, want.size(), 65536), want);
  EXPECT_GT(read(stats().mem_invalidated), 0u);
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(server(), want);
}

TEST_F(ReadPath, MemoryBudgetEvictsCleanFoliosLeastRecentlyUsed) {
  Options o;
  o.memory_limit = 1 << 20;
  o.readahead_max = 256 * 1024;
  auto data = serve(8 << 20, o);
  EXPECT_EQ(read_all(0, data.size(), 65536), data);
  EXPECT_LE(engine_->resident_bytes(), (1u << 20) + 2 * o.folio_size);
  EXPECT_GT(read(stats().mem_evicted), 0u);
  // Dirty data is never evicted.
  auto mine = pattern(300000, 4);
  write(0, mine);
  EXPECT_EQ(read_all(1 << 20, 4 << 20, 65536).size(), 4u << 20);
  auto head = read_all(0, mine.size(), 65536);
  EXPECT_EQ(head, mine);
}

TEST_F(ReadPath, ConcurrentReadersAndWritersOnOneFile) {
  MemoryBackend::Config bc;
  bc.async = true;
  bc.shuffle = true;
  bc.max_len = 16384;
  Options o;
  o.folio_size = 4096;
  o.memory_limit = 512 * 1024;  // readers evict while writers dirty
  auto data = serve(1 << 20, o, bc);
  // Writers own even 8 KiB blocks, readers check odd ones (never written) and the
  // writers' blocks they own after the writers are done.
  std::vector<std::thread> threads;
  std::atomic<bool> bad{false};
  for (int t = 0; t < 2; t++)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; i++) {
        size_t block = (static_cast<size_t>(i * 7 + t) % 64) * 2;
        auto d = pattern(8192, unsigned(block));
        if (!perform_write(*inode_, block * 8192, d.data(), d.size()).ok()) bad = true;
      }
    });
  for (int t = 0; t < 2; t++)
    threads.emplace_back([&, t] {
      ReadaheadState ra;
      std::vector<std::byte> buf(8192);
      for (int i = 0; i < 200; i++) {
        size_t block = (static_cast<size_t>(i * 5 + t) % 64) * 2 + 1;
        auto r = buffered_read(*inode_, ra, block * 8192, buf.data(), buf.size());
        if (!r.ok() || *r != 8192 || !std::equal(buf.begin(), buf.end(), data.begin() + block * 8192)) bad = true;
      }
    });
  for (auto& th : threads) th.join();
  ASSERT_FALSE(bad.load());
  auto want = data;
  for (size_t block = 0; block < 128; block += 2) {
    auto d = pattern(8192, unsigned(block));
    std::copy(d.begin(), d.end(), want.begin() + block * 8192);
  }
  EXPECT_EQ(read_all(0, want.size(), 100000), want);
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(server(), want);
}

// Bytes read from the server are copied to the cache by write-back's cache stream, after
// the read returned; the next reader gets them from the cache.
TEST_F(ReadPath, ServerBytesAreCopiedToTheCacheInTheBackground) {
  auto data = serve(500000, {}, {}, true);
  cookie_->set_enabled(true);
  auto flusher = std::make_unique<Flusher>(*engine_);
  ASSERT_EQ(read_all(0, data.size(), 65536), data);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (cookie_->present(0, data.size()) < data.size() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();  // polling a condition with a deadline, not timing
  ASSERT_EQ(cookie_->present(0, data.size()), data.size());
  flusher.reset();
  EXPECT_EQ(backend_->counts().write_calls, 0u);  // nothing went to the server
  // A new inode on the same cookie (as after a remount) reads from the cache only.
  inode_ = engine_->new_inode(*backend_, 1, data.size(), cookie_.get());
  backend_->reset_counts();
  ASSERT_EQ(read_all(0, data.size(), 65536), data);
  EXPECT_EQ(backend_->counts().read_calls, 0u);
  EXPECT_GE(read(stats().cache_read_bytes), data.size());
}

// A folio read from the server and on its way to the cache (stream 1 only) is under
// write-back but holds nothing of ours: revalidate must not keep the size up to it. It
// did (dirty or write-back folios counted as our data to the folio's start at least), so
// a second client that found a 100,000-byte file cut to 1,000 read 65,536 bytes.
TEST_F(ReadPath, ACopyToTheCacheInFlightDoesNotKeepTheOldSize) {
  auto data = serve(100000, {}, {}, true);
  cookie_->set_enabled(true);
  ASSERT_EQ(read_all(0, data.size(), 65536), data);
  cookie_->hold_writes();
  ASSERT_TRUE(writepages(*inode_, WritebackControl{}).ok());  // async: copies to the cache only
  cookie_->wait_held_writes(1);
  auto theirs = pattern(1000, 5);
  backend_->set_contents(1, theirs);
  revalidate(*inode_, theirs.size(), /*changed=*/true);
  EXPECT_EQ(inode_->size(), theirs.size());
  cookie_->fail_held_writes(EIO);
  EXPECT_EQ(read_all(0, data.size(), 65536), theirs);
  EXPECT_EQ(backend_->counts().write_calls, 0u);
}

// Readers and writers on the same blocks: every folio-sized piece a reader sees is one
// whole version of that piece (the server's or one a writer wrote), never a mix, and
// never bytes from nowhere.
TEST_F(ReadPath, ReadersAndWritersOnOverlappingRangesSeeWholeFolioVersions) {
  MemoryBackend::Config bc;
  bc.async = true;
  bc.shuffle = true;
  bc.max_len = 16384;
  Options o;
  o.folio_size = 4096;
  o.memory_limit = 256 * 1024;
  o.dirty_limit = 64 * 1024;
  auto data = serve(256 * 1024, o, bc);
  constexpr unsigned kVersions = 4;
  std::vector<std::vector<std::byte>> versions;
  for (unsigned v = 0; v < kVersions; v++) versions.push_back(pattern(256 * 1024, 1000 + v));
  auto flusher = std::make_unique<Flusher>(*engine_);
  std::atomic<bool> bad{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; t++)
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 300; i++) {
        size_t pos = (rng() % 63) * 4096;
        unsigned v = rng() % kVersions;
        if (!perform_write(*inode_, pos, versions[v].data() + pos, 8192).ok()) bad = true;
      }
    });
  for (int t = 0; t < 2; t++)
    threads.emplace_back([&, t] {
      std::mt19937 rng(10 + t);
      ReadaheadState ra;
      std::vector<std::byte> buf(12288);
      for (int i = 0; i < 300; i++) {
        size_t pos = (rng() % 62) * 4096;
        auto r = buffered_read(*inode_, ra, pos, buf.data(), buf.size());
        if (!r.ok() || *r != buf.size()) {
          bad = true;
          continue;
        }
        for (size_t off = 0; off < buf.size(); off += 4096) {
          auto piece = [&](const std::vector<std::byte>& src) {
            return std::equal(buf.begin() + off, buf.begin() + off + 4096, src.begin() + pos + off);
          };
          bool ok = piece(data);
          for (auto& v : versions) ok = ok || piece(v);
          if (!ok) bad = true;
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_FALSE(bad.load());
  ASSERT_TRUE(sync().ok());
  flusher.reset();
}

}  // namespace
}  // namespace netfs::testing
