// A caller blocked in the engine is interruptible (issue 15): with the backend paused (a
// server that is gone), fsync, a buffered read and a writer throttled at the dirty limit
// end with EINTR once their Cancel is requested, and nothing is lost: the data is written
// when the backend resumes, and a write-back error that comes after the interrupted
// fsync is reported to the next fsync, once.
#include <gtest/gtest.h>

#include <future>
#include <random>
#include <thread>

#include "fakes/eventually.h"
#include "netfs/cancel.h"
#include "netfs/read.h"
#include "write_fixture.h"

namespace netfs::testing {
namespace {

using namespace std::chrono_literals;

class CancelTest : public WriteFixture {
 protected:
  void SetUp() override { make(Options{}, async_backend()); }
  static MemoryBackend::Config async_backend() {
    MemoryBackend::Config bc;
    bc.async = true;
    return bc;
  }

  // Runs op on a thread of its own under a Cancel, waits until the backend holds a call
  // (op is blocked on the "server"), requests the cancel and returns op's result, which
  // must come while the backend is still paused.
  template <class F>
  auto interrupted(F op) -> decltype(op()) {
    Cancel cancel;
    std::promise<decltype(op())> p;
    auto fut = p.get_future();
    std::thread t([&] {
      Cancel::Scope scope(cancel);
      p.set_value(op());
    });
    EXPECT_TRUE(eventually([&] { return backend_->pending() > 0; }));
    cancel.request();
    const bool returned = fut.wait_for(5s) == std::future_status::ready;
    if (!returned) backend_->resume();  // let it finish, to fail rather than hang
    t.join();
    EXPECT_TRUE(returned) << "the call did not return on cancel while the backend was paused";
    return fut.get();
  }

  bool settled() {
    return engine_->dirty_bytes() == 0 && engine_->stats().mem_writeback_bytes.load() == 0;
  }
};

TEST_F(CancelTest, AnInterruptedFsyncReturnsEintrAndTheDataIsWrittenWhenTheServerReturns) {
  auto data = pattern(256 * 1024, 1);
  write(0, data);
  backend_->pause();
  Status st = interrupted([&] { return sync(); });
  EXPECT_EQ(st.errnum(), EINTR);
  EXPECT_TRUE(server().empty());
  backend_->resume();
  ASSERT_TRUE(eventually([&] { return settled(); }));
  EXPECT_EQ(server(), data);
  EXPECT_TRUE(sync().ok());
}

TEST_F(CancelTest, AnErrorAfterAnInterruptedFsyncGoesToTheNextFsyncOnce) {
  std::atomic<int> calls{0};
  backend_->set_fault_fn([&](const Call& c) {
    if (c.write && calls++ == 0) return Fault{Fault::kError, EIO};
    return Fault{};
  });
  auto data = pattern(64 * 1024, 2);
  write(0, data);
  backend_->pause();
  EXPECT_EQ(interrupted([&] { return sync(); }).errnum(), EINTR);
  backend_->resume();
  // The write-back the fsync stopped waiting for fails and records EIO on its own.
  ASSERT_TRUE(eventually([&] { return stats().wb_errors.load() == 1 && stats().mem_writeback_bytes.load() == 0; }));
  EXPECT_EQ(sync().errnum(), EIO);  // writes the redirtied data, reports the error
  EXPECT_TRUE(sync().ok());         // once
  EXPECT_EQ(server(), data);
}

TEST_F(CancelTest, AnInterruptedBufferedReadReturnsEintrAndALaterReadGetsTheData) {
  auto data = pattern(512 * 1024, 3);
  backend_->set_contents(2, data);
  auto inode = engine_->new_inode(*backend_, 2, data.size());
  backend_->pause();
  std::vector<std::byte> buf(data.size());
  ReadaheadState ra;
  auto r = interrupted([&] { return buffered_read(*inode, ra, 0, buf.data(), buf.size()); });
  EXPECT_EQ(r.errnum(), EINTR);
  backend_->resume();
  ReadaheadState ra2;
  auto again = buffered_read(*inode, ra2, 0, buf.data(), buf.size());
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(*again, data.size());
  EXPECT_EQ(buf, data);
  backend_->drain();
  inode.reset();
}

TEST_F(CancelTest, AWriterThrottledAtTheDirtyLimitReturnsEintr) {
  Options o;
  o.dirty_limit = 1 << 20;
  make(o, async_backend());
  auto first = pattern((1 << 20) + 64 * 1024, 4);
  write(0, first);  // over the limit now; the next write is throttled
  backend_->pause();
  auto more = pattern(64 * 1024, 5);
  auto r = interrupted([&] { return perform_write(*inode_, first.size(), more.data(), more.size()); });
  EXPECT_EQ(r.errnum(), EINTR);
  backend_->resume();
  EXPECT_TRUE(sync().ok());
  EXPECT_EQ(server(), first);
}

TEST_F(CancelTest, ACancelRequestedBeforeTheWaitEndsItAtOnce) {
  auto data = pattern(128 * 1024, 6);
  write(0, data);
  backend_->pause();
  Cancel cancel;
  cancel.request();
  {
    Cancel::Scope scope(cancel);
    EXPECT_EQ(sync().errnum(), EINTR);
  }
  backend_->resume();
  EXPECT_TRUE(sync().ok());
  EXPECT_EQ(server(), data);
}

// The hand-over of collection from an interrupted waiter to the WorkQueue races with
// completions arriving on the backend's threads; whatever the interleaving, every byte
// arrives and the request completes (TSan runs this too).
TEST_F(CancelTest, CancelsRacingCompletionsLoseNothing) {
  MemoryBackend::Config bc = async_backend();
  bc.max_len = 16 * 1024;
  bc.shuffle = true;
  make(Options{}, bc);
  std::mt19937 rng(7);
  std::vector<std::byte> expect;
  for (int i = 0; i < 50; i++) {
    auto data = pattern(128 * 1024, 100 + i);
    write(0, data);
    expect = data;
    Cancel cancel;
    std::thread t([&] {
      Cancel::Scope scope(cancel);
      Status st = sync();
      EXPECT_TRUE(st.ok() || st.errnum() == EINTR) << st.error().message();
    });
    for (unsigned k = rng() % 2000; k > 0; k--) std::this_thread::yield();  // where the cancel falls
    cancel.request();
    t.join();
  }
  EXPECT_TRUE(sync().ok());
  ASSERT_TRUE(eventually([&] { return settled(); }));
  EXPECT_EQ(server(), expect);
}

}  // namespace
}  // namespace netfs::testing
