#include <gtest/gtest.h>

#include <atomic>

#include "netfs/request.h"
#include "write_fixture.h"

namespace netfs::testing {
namespace {

using WriteRetry = WriteFixture;

TEST_F(WriteRetry, TransientErrorsAreRetriedAndCounted) {
  std::atomic<int> calls{0};
  backend_->set_fault_fn([&](const Call& c) {
    Fault f;
    if (calls++ < 3) f.kind = Fault::kError, f.errnum = ECONNRESET;
    return f;
  });
  auto data = pattern(100000, 1);
  write(0, data);
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(server(), data);
  EXPECT_EQ(read(stats().write_retry_subreq), 3u);
  EXPECT_GE(read(stats().write_retry_req), 1u);
}

TEST_F(WriteRetry, ShortWritesContinueFromWhereTheyStopped) {
  backend_->set_fault_fn([&](const Call& c) {
    Fault f;
    if (c.len > 1000) f.kind = Fault::kShort, f.short_len = 1000;  // every call moves at most 1000
    return f;
  });
  auto data = pattern(50000, 2);
  write(0, data);
  ASSERT_TRUE(sync().ok());  // progress each time: more than max_retries attempts is fine
  EXPECT_EQ(server(), data);
  EXPECT_GE(read(stats().upload_short_), 49u);
}

TEST_F(WriteRetry, RetryThatMakesNoProgressIsAbandoned) {
  backend_->set_fault_fn([&](const Call&) {
    Fault f;
    f.kind = Fault::kZero;
    return f;
  });
  write(0, pattern(1000, 3));
  Status st = sync();
  EXPECT_EQ(st.errnum(), EIO);
  EXPECT_EQ(backend_->counts().write_calls, 2u);  // the first try and one retry
  EXPECT_EQ(read(stats().write_abandoned), 1u);
  EXPECT_EQ(engine_->dirty_bytes(), 1000u);  // kept, not dropped
}

TEST_F(WriteRetry, HardCapStopsEndlessTransientErrors) {
  Options o;
  o.max_retries = 4;
  make(o);
  std::atomic<int> calls{0};
  backend_->set_fault_fn([&](const Call&) {
    calls++;
    Fault f;
    f.kind = Fault::kError;
    f.errnum = ECONNRESET;
    return f;
  });
  write(0, pattern(1000, 4));
  EXPECT_EQ(sync().errnum(), ECONNRESET);
  EXPECT_EQ(calls.load(), 5);  // one try + 4 retries
}

// Issue 15: a backend's ETIMEDOUT means it already waited its whole deadline; a retry
// would wait it again (ten times over with the hard cap), so the failure is final at once.
TEST_F(WriteRetry, TimeoutIsNotRetried) {
  std::atomic<int> calls{0};
  backend_->set_fault_fn([&](const Call&) {
    calls++;
    Fault f;
    f.kind = Fault::kError;
    f.errnum = ETIMEDOUT;
    return f;
  });
  auto data = pattern(1000, 4);
  write(0, data);
  EXPECT_EQ(sync().errnum(), ETIMEDOUT);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(engine_->dirty_bytes(), data.size());  // kept for the next attempt
}

TEST_F(WriteRetry, PermanentFailureKeepsDataDirtyAndReportsOncePerCaller) {
  std::atomic<int> fail{ENOSPC};
  backend_->set_fault_fn([&](const Call&) {
    Fault f;
    if (int e = fail.load()) f.kind = Fault::kError, f.errnum = e;
    return f;
  });
  auto data = pattern(70000, 5);
  write(0, data);
  Errseq::Cursor other = inode_->wb_err().sample();  // a second open file
  EXPECT_EQ(sync().errnum(), ENOSPC);
  EXPECT_EQ(engine_->dirty_bytes(), data.size());
  EXPECT_GE(read(stats().wb_redirtied), 1u);
  fail = 0;
  ASSERT_TRUE(sync().ok());  // the kept data goes now; the error was already reported here
  EXPECT_EQ(server(), data);
  EXPECT_EQ(fsync(*inode_, other).errnum(), ENOSPC);  // the other file sees it once
  EXPECT_TRUE(fsync(*inode_, other).ok());
}

TEST_F(WriteRetry, RetryRepreparesAndSplitsWhenLimitsShrink) {
  MemoryBackend::Config bc;
  bc.max_len = 64 * 1024;
  make({}, bc);
  std::atomic<int> calls{0};
  backend_->set_fault_fn([&](const Call&) {
    Fault f;
    if (calls++ == 0) {
      f.kind = Fault::kError;
      f.errnum = ECONNRESET;
      backend_->set_max_len(16 * 1024);  // "reconnected with a smaller msize"
    }
    return f;
  });
  auto data = pattern(64 * 1024, 6);
  write(0, data);
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(server(), data);
  auto c = backend_->counts();
  ASSERT_EQ(c.write_calls, 4u);
  for (size_t l : c.write_lens) EXPECT_EQ(l, 16u * 1024);
}

TEST_F(WriteRetry, BackoffSpacesAttempts) {
  Options o;
  make(o);
  // make() zeroes backoff; rebuild with a real one.
  inode_.reset();
  engine_.reset();
  o.retry_backoff = std::chrono::milliseconds(20);
  engine_ = std::make_unique<Engine>(o);
  inode_ = engine_->new_inode(*backend_, 1, 0);
  std::atomic<int> calls{0};
  backend_->set_fault_fn([&](const Call&) {
    Fault f;
    if (calls++ < 2) f.kind = Fault::kError, f.errnum = EAGAIN;
    return f;
  });
  write(0, pattern(1000, 7));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sync().ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20 + 40));
}

TEST_F(WriteRetry, AsyncWritebackRetriesOnTheWorkQueue) {
  MemoryBackend::Config bc;
  bc.async = true;
  bc.max_len = 4096;
  make({}, bc);
  std::atomic<int> calls{0};
  backend_->set_fault_fn([&](const Call&) {
    Fault f;
    if (calls++ % 3 == 0) f.kind = Fault::kError, f.errnum = ECONNRESET;
    return f;
  });
  auto data = pattern(100000, 8);
  write(0, data);
  ASSERT_TRUE(writepages(*inode_, WritebackControl{}).ok());
  ASSERT_TRUE(sync().ok());  // waits for the async request's write-back too
  EXPECT_EQ(server(), data);
  EXPECT_GT(read(stats().write_retry_subreq), 0u);
}

}  // namespace
}  // namespace netfs::testing
