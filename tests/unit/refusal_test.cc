// Write-back the server refuses for a lasting reason (issue 15, finding 4): the flusher
// backs off per inode and then probes with one folio instead of resending the whole file
// every pass; success ends the episode; netfs::discard drops a deleted file's data.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "write_fixture.h"

namespace netfs::testing {
namespace {

using RefusalTest = WriteFixture;

// Waits (bounded by ctest's timeout) for a condition that the flusher's thread makes true.
template <typename F>
void wait_until(F&& f) {
  while (!f()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST_F(RefusalTest, TheFlusherBacksOffAndProbesWithOneFolio) {
  Options o;
  o.writeback_delay = std::chrono::milliseconds(2);  // a pass every millisecond
  o.refusal_backoff = std::chrono::milliseconds(20);
  o.refusal_backoff_max = std::chrono::milliseconds(40);
  MemoryBackend::Config bc;
  bc.max_len = 64 * 1024;  // one folio per call
  make(o, bc);
  std::atomic<bool> full{true};
  backend_->set_fault_fn([&](const Call& c) {
    Fault f;
    if (c.write && full.load()) {
      f.kind = Fault::kError;
      f.errnum = ENOSPC;
    }
    return f;
  });
  auto data = pattern(1 << 20, 5);  // 16 folios
  write(0, data);
  Flusher flusher(*engine_);
  wait_until([&] { return read(stats().wb_refusals) >= 4; });
  const uint64_t refusals = read(stats().wb_refusals);
  // The first pass sends all 16 folios; each later attempt one. Without the back-off
  // every pass (each millisecond) sent 16.
  EXPECT_LE(read(stats().upload_subreqs), 16 + (refusals + 1));
  EXPECT_EQ(read(stats().wb_refused_files), 1u);
  EXPECT_EQ(read(stats().wb_refused_now), 1);
  EXPECT_GE(read(stats().wb_backed_off), 1u);
  EXPECT_EQ(engine_->dirty_bytes(), data.size());

  // Space again: the next probe lands, the episode ends and the rest follows.
  full = false;
  wait_until([&] { return engine_->dirty_bytes() == 0; });
  EXPECT_EQ(server(), data);
  EXPECT_EQ(read(stats().wb_refused_now), 0);
  EXPECT_EQ(read(stats().wb_refused_files), 1u);
}

TEST_F(RefusalTest, FsyncTriesAtOnceWhateverTheBackOff) {
  Options o;
  o.refusal_backoff = std::chrono::hours(1);
  make(o);
  backend_->set_fault_fn([](const Call& c) {
    Fault f;
    if (c.write) f.kind = Fault::kError, f.errnum = EROFS;
    return f;
  });
  write(0, pattern(200000, 6));
  EXPECT_EQ(sync().errnum(), EROFS);
  const uint64_t sent = read(stats().upload_subreqs);
  EXPECT_EQ(sync().errnum(), EROFS);  // tried again, not told "later"
  EXPECT_GT(read(stats().upload_subreqs), sent);
  EXPECT_EQ(read(stats().wb_refused_files), 1u);
  EXPECT_EQ(read(stats().wb_refusals), 2u);
}

TEST_F(RefusalTest, DiscardDropsDirtyDataUnwritten) {
  backend_->set_fault_fn([](const Call& c) {
    Fault f;
    if (c.write) f.kind = Fault::kError, f.errnum = ENOSPC;
    return f;
  });
  write(0, pattern(300000, 7));
  EXPECT_EQ(sync().errnum(), ENOSPC);
  EXPECT_EQ(read(stats().wb_refused_now), 1);
  EXPECT_EQ(discard(*inode_), 300000u);
  EXPECT_EQ(engine_->dirty_bytes(), 0u);
  EXPECT_EQ(inode_->dirty_bytes(), 0u);
  EXPECT_TRUE(engine_->dirty_inodes().empty());
  EXPECT_EQ(read(stats().wb_refused_now), 0);
  EXPECT_EQ(read(stats().wb_discarded_bytes), 300000u);
  EXPECT_EQ(read(stats().mem_dirty_bytes), 0);
}

}  // namespace
}  // namespace netfs::testing
