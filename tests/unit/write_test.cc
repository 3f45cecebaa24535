#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "netfs/read.h"
#include "netfs/request.h"
#include "fakes/eventually.h"
#include "write_fixture.h"

namespace netfs::testing {
namespace {

using WritePath = WriteFixture;

TEST_F(WritePath, BufferedWriteStaysDirtyUntilFsync) {
  auto data = pattern(300000, 1);
  write(0, data);
  EXPECT_EQ(inode_->size(), data.size());
  EXPECT_EQ(engine_->dirty_bytes(), data.size());
  EXPECT_TRUE(server().empty());
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(server(), data);
  EXPECT_EQ(engine_->dirty_bytes(), 0u);
  EXPECT_EQ(read(stats().mem_writeback_bytes), 0);
  EXPECT_EQ(read(stats().upload_bytes), data.size());
}

TEST_F(WritePath, SubrequestsGrowToMaxLenAndRespectSegmentLimit) {
  Options o;
  o.folio_size = 4096;
  MemoryBackend::Config bc;
  bc.max_len = 64 * 1024;
  make(o, bc);
  write(0, pattern(1 << 20, 2));
  ASSERT_TRUE(sync().ok());
  auto c = backend_->counts();
  ASSERT_EQ(c.write_calls, 16u);
  for (size_t l : c.write_lens) EXPECT_EQ(l, 64u * 1024);

  bc.max_len = 0;
  bc.max_segs = 4;
  make(o, bc);
  write(0, pattern(1 << 20, 2));
  ASSERT_TRUE(sync().ok());
  c = backend_->counts();
  EXPECT_EQ(c.write_calls, 64u);  // 4 folios of 4 KiB each
  EXPECT_EQ(server(), pattern(1 << 20, 2));
}

TEST_F(WritePath, DiscontiguityEndsASubrequest) {
  Options o;
  o.folio_size = 4096;
  make(o);
  write(0, pattern(8192, 3));
  write(40960, pattern(8192, 4));
  ASSERT_TRUE(sync().ok());
  auto c = backend_->counts();
  EXPECT_EQ(c.write_calls, 2u);
  auto s = server();
  ASSERT_EQ(s.size(), 40960u + 8192);
  EXPECT_TRUE(std::equal(s.begin() + 8192, s.begin() + 40960, std::vector<std::byte>(32768).begin()));
}

TEST_F(WritePath, ShuffledSmallWritesCoalesceIntoFullSubrequests) {
  Options o;
  o.folio_size = 16384;
  MemoryBackend::Config bc;
  bc.max_len = 256 * 1024;
  make(o, bc);
  const size_t total = 8 << 20;
  auto data = pattern(total, 5);
  std::vector<size_t> order(total / 4096);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(5));
  for (size_t i : order) {
    auto r = perform_write(*inode_, i * 4096, data.data() + i * 4096, 4096);
    ASSERT_TRUE(r.ok());
  }
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(server(), data);
  auto c = backend_->counts();
  EXPECT_EQ(c.write_calls, total / (256 * 1024));
}

TEST_F(WritePath, StreamingWriteSendsOnlyDirtyBytes) {
  // A file the server already has: partial writes must not clobber the bytes around them.
  auto base = pattern(65536 * 2, 6);
  backend_->set_contents(1, base);
  inode_ = engine_->new_inode(*backend_, 1, base.size());
  auto patch = pattern(100, 7);
  write(1000, patch);
  write(1100, patch);  // contiguous: extends the dirty range
  ASSERT_TRUE(sync().ok());
  auto expect = base;
  std::copy(patch.begin(), patch.end(), expect.begin() + 1000);
  std::copy(patch.begin(), patch.end(), expect.begin() + 1100);
  EXPECT_EQ(server(), expect);
  EXPECT_EQ(backend_->counts().write_bytes, 200u);
}

// A second partial write into a streaming folio that does not touch the first: the folio
// is filled from the server once (keeping the first write's bytes), not written back.
TEST_F(WritePath, NonContiguousStreamingWriteReadsTheFolioOnce) {
  auto base = pattern(65536, 8);
  backend_->set_contents(1, base);
  inode_ = engine_->new_inode(*backend_, 1, base.size());
  auto a = pattern(10, 9), b = pattern(10, 10), c = pattern(10, 11);
  write(100, a);
  write(5000, b);  // same folio, not contiguous
  write(30000, c);  // the folio is uptodate now: no second read
  EXPECT_EQ(read(stats().write_flush_conflict), 1u);
  EXPECT_EQ(backend_->counts().read_calls, 1u);
  EXPECT_EQ(backend_->counts().write_calls, 0u);
  std::copy(c.begin(), c.end(), base.begin() + 30000);
  ASSERT_TRUE(sync().ok());
  auto expect = base;
  std::copy(a.begin(), a.end(), expect.begin() + 100);
  std::copy(b.begin(), b.end(), expect.begin() + 5000);
  EXPECT_EQ(server(), expect);
}

TEST_F(WritePath, OutOfOrderCompletionKeepsBytesAndOrder) {
  Options o;
  o.folio_size = 4096;
  MemoryBackend::Config bc;
  bc.max_len = 16384;
  bc.async = true;
  bc.shuffle = true;
  bc.threads = 3;
  make(o, bc);
  std::mt19937 rng(11);
  backend_->set_fault_fn([&](const Call&) {
    Fault f;
    f.delay = std::chrono::microseconds(rng() % 300);
    return f;
  });
  auto data = pattern(2 << 20, 11);
  write(0, data);
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(server(), data);
  EXPECT_EQ(engine_->dirty_bytes(), 0u);
}

TEST_F(WritePath, WriteThroughReachesServerBeforeReturning) {
  auto data = pattern(200000, 12);
  write(0, data, WriteMode::kWriteThrough);
  EXPECT_EQ(server(), data);
  EXPECT_EQ(engine_->dirty_bytes(), 0u);
  EXPECT_EQ(read(stats().req_writethrough), 1u);
}

TEST_F(WritePath, UnbufferedWriteBypassesFoliosAndFlushesOverlap) {
  MemoryBackend::Config bc;
  bc.max_len = 10000;
  make({}, bc);
  write(0, pattern(100000, 13));  // dirty, older
  auto direct = pattern(50000, 14);
  auto r = unbuffered_write(*inode_, 20000, direct.data(), direct.size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, direct.size());
  auto expect = pattern(100000, 13);
  std::copy(direct.begin(), direct.end(), expect.begin() + 20000);
  EXPECT_EQ(server(), expect);
  EXPECT_EQ(read(stats().req_unbuffered_write), 1u);
}

TEST_F(WritePath, WriteSingleGoesInOnePieceToEveryStream) {
  MemoryBackend::Config bc;
  bc.max_len = 4096;
  make({}, bc, /*cookie=*/true);
  auto blob = pattern(50000, 15);
  auto r = write_single(*inode_, blob.data(), blob.size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(server(), blob);
  EXPECT_EQ(backend_->counts().write_calls, 1u);  // max_len ignored
  EXPECT_EQ(cookie_->data(), blob);
}

TEST_F(WritePath, CacheStreamCopiesWholeFoliosAndFailureOnlyInvalidates) {
  make({}, {}, /*cookie=*/true);
  auto data = pattern(200000, 16);
  write(0, data);
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(cookie_->data(), data);
  EXPECT_GT(read(stats().cache_write_bytes), 0u);

  make({}, {}, true);
  cookie_->fail_writes(ENOSPC);
  write(0, data);
  ASSERT_TRUE(sync().ok());  // the upload succeeded: write-back succeeds
  EXPECT_EQ(server(), data);
  EXPECT_EQ(cookie_->invalidations(), 1);
  EXPECT_EQ(read(stats().cache_invalidations), 1u);
}

TEST_F(WritePath, TruncateShrinksDropsAndZeroesTail) {
  Options o;
  o.folio_size = 4096;
  make(o);
  auto data = pattern(20000, 17);
  write(0, data);
  ASSERT_TRUE(truncate(*inode_, 10000).ok());
  EXPECT_EQ(inode_->size(), 10000u);
  EXPECT_EQ(engine_->dirty_bytes(), 10000u);
  ASSERT_TRUE(truncate(*inode_, 15000).ok());  // extend: the gap reads as zero
  ASSERT_TRUE(sync().ok());
  auto expect = data;
  expect.resize(10000);
  expect.resize(15000);
  EXPECT_EQ(server(), expect);
}

TEST_F(WritePath, TruncateFailureChangesNothing) {
  write(0, pattern(5000, 18));
  backend_->set_size_error(EROFS);
  EXPECT_EQ(truncate(*inode_, 100).errnum(), EROFS);
  EXPECT_EQ(inode_->size(), 5000u);
  backend_->set_size_error(0);
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(server(), pattern(5000, 18));
}

// An async write-back lands while a shrinking truncate waits for it, and the server then
// refuses the truncate. The file keeps its size and the server keeps the bytes, so
// zero_point must end above them: the collector used to clamp its raise to the size that
// truncate had lowered, and a later read of those bytes (their folio evicted) zero-filled
// them. Forced order: the upload is held in the backend until truncate has lowered the
// size, and truncate cannot reach the server before the upload's folio leaves write-back.
TEST_F(WritePath, WriteBackLandingDuringFailedTruncateRaisesZeroPoint) {
  Options o;
  o.folio_size = 4096;
  make(o);
  auto data = pattern(4096, 23);
  write(32768, data);  // size 36864; zero_point stays 0 (the server has nothing)
  ASSERT_EQ(inode_->zero_point(), 0u);
  std::atomic<bool> held{false};
  backend_->set_fault_fn([&](const Call& c) {
    if (c.write) {
      held = true;
      // Polls a condition another thread makes true; should it never come, the assertions
      // after the truncate fail.
      (void)eventually([&] { return inode_->size() == 4096; });
    }
    return Fault{};
  });
  std::thread wb([&] { ASSERT_TRUE(writepages(*inode_, WritebackControl{}).ok()); });  // async
  ASSERT_TRUE(eventually([&] { return held.load(); }));  // the folio is under write-back now
  backend_->set_size_error(EIO);
  EXPECT_EQ(truncate(*inode_, 4096).errnum(), EIO);
  wb.join();
  backend_->set_fault_fn(nullptr);
  backend_->set_size_error(0);
  ASSERT_EQ(inode_->size(), 36864u);
  ASSERT_EQ(server().size(), 36864u);
  EXPECT_GE(inode_->zero_point(), 36864u);
  // Drop the (clean) folio, as reclaim would, and read the bytes back from the server.
  invalidate_range(*inode_, 0, UINT64_MAX);
  ReadaheadState ra;
  std::vector<std::byte> got(4096);
  auto r = buffered_read(*inode_, ra, 32768, got.data(), got.size());
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(*r, got.size());
  EXPECT_TRUE(got == data) << "the read zero-filled bytes the server holds";
}

// Reads len bytes at pos through the page cache after dropping every clean folio (as
// reclaim would), so the bytes come from the server or from zero_point's zero-fill.
std::vector<std::byte> read_evicted(Inode& inode, uint64_t pos, size_t len) {
  invalidate_range(inode, 0, UINT64_MAX);
  ReadaheadState ra;
  std::vector<std::byte> got(len);
  auto r = buffered_read(inode, ra, pos, got.data(), got.size());
  EXPECT_TRUE(r.ok()) << r.error().message();
  got.resize(r.ok() ? *r : 0);
  return got;
}

// Close-to-open on open: the FUSE layer samples landed_seq, asks the server for the
// size, and revalidates with it (the mtime moved: our own write-back changed it). Our
// async write-back lands between the getattr and revalidate, so the size it was given is
// below data the server holds. revalidate used to set zero_point (and the size) to it,
// and a later read of the evicted folio returned nothing or zeroes. Forced order: the
// upload is held in the backend until the test has made its "getattr".
TEST_F(WritePath, WriteBackLandingAfterGetattrSurvivesRevalidate) {
  Options o;
  o.folio_size = 4096;
  make(o);
  auto data = pattern(4096, 31);
  write(32768, data);  // size 36864; zero_point stays 0 (the server has nothing)
  std::atomic<bool> held{false}, release{false};
  backend_->set_fault_fn([&](const Call& c) {
    if (c.write) {
      held = true;
      held.notify_all();
      release.wait(false);
    }
    return Fault{};
  });
  std::thread wb([&] { ASSERT_TRUE(writepages(*inode_, WritebackControl{}).ok()); });  // async
  held.wait(false);
  const uint64_t seq = inode_->landed_seq();
  const uint64_t getattr_size = server().size();
  ASSERT_EQ(getattr_size, 0u);
  release = true;
  release.notify_all();
  wb.join();
  ASSERT_TRUE(sync().ok());  // the write-back has been collected
  backend_->set_fault_fn(nullptr);
  ASSERT_EQ(server(), [&] {
    auto want = std::vector<std::byte>(32768);
    want.insert(want.end(), data.begin(), data.end());
    return want;
  }());
  revalidate(*inode_, getattr_size, /*changed=*/true, seq);
  EXPECT_EQ(inode_->size(), 36864u);
  EXPECT_GE(inode_->zero_point(), 36864u);
  EXPECT_TRUE(read_evicted(*inode_, 32768, 4096) == data) << "the read lost bytes the server holds";
}

// The other side: when nothing of ours landed since the sample, revalidate trusts the
// server's size for both the size and zero_point (another client cut the file). Without
// a sample it still adopts the size but never lowers zero_point.
TEST_F(WritePath, RevalidateTrustsTheServersSizeWhenNothingLandedSinceTheSample) {
  Options o;
  o.folio_size = 4096;
  make(o);
  write(0, pattern(36864, 32));
  ASSERT_TRUE(sync().ok());
  ASSERT_EQ(inode_->zero_point(), 36864u);
  auto theirs = pattern(4096, 33);
  const uint64_t seq = inode_->landed_seq();
  backend_->set_contents(1, theirs);
  revalidate(*inode_, theirs.size(), true, seq);
  EXPECT_EQ(inode_->size(), 4096u);
  EXPECT_EQ(inode_->zero_point(), 4096u);
  EXPECT_TRUE(read_evicted(*inode_, 0, 8192) == theirs);

  write(0, pattern(36864, 34));
  ASSERT_TRUE(sync().ok());
  backend_->set_contents(1, theirs);
  revalidate(*inode_, theirs.size(), true);  // no sample
  EXPECT_EQ(inode_->size(), 4096u);
  EXPECT_EQ(inode_->zero_point(), 36864u);
  EXPECT_TRUE(read_evicted(*inode_, 0, 8192) == theirs);
}

// An unbuffered write whose second subrequest fails for good: the first landed, so the
// write is short (POSIX), not an error, and the size grows over what landed. It used to
// return the error and leave the size below the server's, so the landed bytes could not
// be read back.
TEST_F(WritePath, UnbufferedWriteFailingPartWayIsAShortWrite) {
  MemoryBackend::Config bc;
  bc.max_len = 10000;
  make({}, bc);
  backend_->set_fault_fn([](const Call& c) {
    Fault f;
    if (c.write && c.pos >= 10000) {
      f.kind = Fault::kError;
      f.errnum = ENOSPC;
    }
    return f;
  });
  auto data = pattern(30000, 40);
  auto r = unbuffered_write(*inode_, 0, data.data(), data.size());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, 10000u);
  backend_->set_fault_fn(nullptr);
  data.resize(10000);
  ASSERT_EQ(server(), data);
  EXPECT_EQ(inode_->size(), 10000u);
  EXPECT_TRUE(read_evicted(*inode_, 0, 30000) == data);
}

// The failing subrequest itself moved part of its range before failing for good (a
// short reply, then an error on the retry): that part landed and counts too.
TEST_F(WritePath, UnbufferedWriteCountsThePartOfTheFailedSubrequestThatLanded) {
  MemoryBackend::Config bc;
  bc.max_len = 10000;
  make({}, bc);
  backend_->set_fault_fn([](const Call& c) {
    Fault f;
    if (c.write && c.pos == 10000) {
      f.kind = Fault::kShort;
      f.short_len = 3000;
    } else if (c.write && c.pos >= 13000) {
      f.kind = Fault::kError;
      f.errnum = ENOSPC;
    }
    return f;
  });
  auto data = pattern(30000, 44);
  auto r = unbuffered_write(*inode_, 0, data.data(), data.size());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, 13000u);
  backend_->set_fault_fn(nullptr);
  data.resize(13000);
  ASSERT_EQ(server(), data);
  EXPECT_EQ(inode_->size(), 13000u);
  EXPECT_TRUE(read_evicted(*inode_, 0, 30000) == data);
}

// Subrequests run independently, so one after the failed one may land: the write returns
// the contiguous prefix, and the size covers everything the server now holds.
TEST_F(WritePath, UnbufferedWriteCoversWhatLandedPastAFailure) {
  MemoryBackend::Config bc;
  bc.max_len = 10000;
  make({}, bc);
  backend_->set_fault_fn([](const Call& c) {
    Fault f;
    if (c.write && c.pos >= 10000 && c.pos < 20000) {
      f.kind = Fault::kError;
      f.errnum = ENOSPC;
    }
    return f;
  });
  auto data = pattern(30000, 41);
  auto r = unbuffered_write(*inode_, 0, data.data(), data.size());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, 10000u);
  backend_->set_fault_fn(nullptr);
  auto want = data;
  std::fill(want.begin() + 10000, want.begin() + 20000, std::byte{0});
  ASSERT_EQ(server(), want);
  EXPECT_EQ(inode_->size(), 30000u);
  EXPECT_TRUE(read_evicted(*inode_, 0, 30000) == want);
}

// When the first subrequest fails, nothing of the write landed contiguously: the error
// is returned. With nothing landed the size and the cached bytes stay; with a later part
// landed, the size still covers it.
TEST_F(WritePath, UnbufferedWriteFailingAtTheStartReturnsTheError) {
  MemoryBackend::Config bc;
  bc.max_len = 10000;
  make({}, bc);
  auto old = pattern(5000, 42);
  write(0, old);
  ASSERT_TRUE(sync().ok());
  backend_->set_fault_fn([](const Call& c) {
    Fault f;
    if (c.write) {
      f.kind = Fault::kError;
      f.errnum = ENOSPC;
    }
    return f;
  });
  auto data = pattern(30000, 43);
  auto r = unbuffered_write(*inode_, 0, data.data(), data.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errnum(), ENOSPC);
  EXPECT_EQ(inode_->size(), 5000u);
  EXPECT_EQ(server(), old);
  EXPECT_TRUE(read_evicted(*inode_, 0, 30000) == old);

  backend_->set_fault_fn([](const Call& c) {
    Fault f;
    if (c.write && c.pos < 10000) {
      f.kind = Fault::kError;
      f.errnum = ENOSPC;
    }
    return f;
  });
  r = unbuffered_write(*inode_, 0, data.data(), data.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errnum(), ENOSPC);
  backend_->set_fault_fn(nullptr);
  auto want = data;
  std::copy(old.begin(), old.end(), want.begin());
  std::fill(want.begin() + 5000, want.begin() + 10000, std::byte{0});
  ASSERT_EQ(server(), want);
  EXPECT_EQ(inode_->size(), 30000u);
  EXPECT_TRUE(read_evicted(*inode_, 0, 30000) == want);
}

TEST(WriteLifetime, ObjectGaugesReturnToZero) {
  MemoryBackend::Config bc;
  bc.async = true;
  bc.max_len = 8192;
  MemoryBackend backend(bc);
  Options o;
  o.retry_backoff = std::chrono::milliseconds(0);
  auto engine = std::make_unique<Engine>(o);
  Stats* st;
  {
    auto inode = engine->new_inode(backend, 1, 0);
    for (int i = 0; i < 10; i++) {
      auto d = pattern(50000, i);
      ASSERT_TRUE(perform_write(*inode, uint64_t(i) * 50000, d.data(), d.size()).ok());
      ASSERT_TRUE(writepages(*inode, WritebackControl{}).ok());  // async
    }
    Errseq::Cursor c = 0;
    ASSERT_TRUE(fsync(*inode, c).ok());
    backend.drain();
    st = &engine->stats();
  }
  // Requests are freed by cleanup work on another thread, and what they held (the inode,
  // and with it the folios) goes with them: wait for every gauge that is asserted.
  auto all_zero = [&] {
    return read(st->objs_requests) == 0 && read(st->objs_subrequests) == 0 && read(st->objs_folioqs) == 0 &&
           read(st->objs_folios) == 0;
  };
  EXPECT_TRUE(eventually(all_zero));
  EXPECT_EQ(read(st->objs_requests), 0);
  EXPECT_EQ(read(st->objs_subrequests), 0);
  EXPECT_EQ(read(st->objs_folioqs), 0);
  EXPECT_EQ(read(st->objs_folios), 0);
}

// `netfs trace` names files by the inode number each record carries (issue 11).
TEST_F(WritePath, TraceRecordsOfAWriteBackCarryTheFilesIno) {
  auto file = engine_->new_inode(*backend_, 2, 0, nullptr, 42);
  auto data = pattern(200000, 3);
  auto w = perform_write(*file, 0, data.data(), data.size(), WriteMode::kWriteBack);
  ASSERT_TRUE(w.ok());
  Errseq::Cursor cursor = 0;
  ASSERT_TRUE(fsync(*file, cursor).ok());
  std::set<TraceReason> seen;
  for (const TraceRecord& r : engine_->trace().snapshot()) {
    EXPECT_EQ(r.ino, 42u) << r.format();
    seen.insert(r.reason);
  }
  for (TraceReason r : {TraceReason::k_rreq_alloc, TraceReason::k_sreq_issue, TraceReason::k_sreq_done,
                        TraceReason::k_fq_alloc, TraceReason::k_folio_wb_start, TraceReason::k_rreq_done})
    EXPECT_TRUE(seen.count(r)) << trace_label(r);
  EXPECT_EQ(backend_->contents(2), data);
}

}  // namespace
}  // namespace netfs::testing
