#include "netfs/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "fakes/eventually.h"

namespace netfs {
namespace {

using testing::eventually;

struct Counter {
  WorkItem item{[](void* p) { static_cast<Counter*>(p)->run(); }, this};
  std::atomic<int> runs{0};
  std::promise<void>* gate = nullptr;  // first run blocks on it when set
  std::promise<void> started;
  void run() {
    int n = runs.fetch_add(1);
    if (n == 0 && gate) {
      started.set_value();
      gate->get_future().wait();
    }
  }
};

TEST(WorkQueue, QueueingAQueuedItemDoesNothing) {
  WorkQueue wq(1);
  // Block the only worker so items stay queued.
  std::promise<void> gate;
  Counter blocker;
  blocker.gate = &gate;
  wq.queue(&blocker.item);
  blocker.started.get_future().wait();
  Counter c;
  EXPECT_TRUE(wq.queue(&c.item));
  EXPECT_FALSE(wq.queue(&c.item));
  EXPECT_FALSE(wq.queue(&c.item));
  gate.set_value();
  wq.cancel_sync(&blocker.item);  // waits until it finished
  ASSERT_TRUE(eventually([&] { return c.runs.load() == 1; }));
  wq.cancel_sync(&c.item);
  EXPECT_EQ(c.runs.load(), 1);
}

TEST(WorkQueue, QueueWhileRunningRerunsOnceWithoutOverlap) {
  WorkQueue wq(2);
  std::promise<void> gate;
  Counter c;
  c.gate = &gate;
  wq.queue(&c.item);
  c.started.get_future().wait();
  EXPECT_TRUE(wq.queue(&c.item));   // notes a rerun
  EXPECT_FALSE(wq.queue(&c.item));  // already noted
  gate.set_value();
  // The rerun happens after the first run ends; cancel_sync after it returns no runs remain.
  ASSERT_TRUE(eventually([&] { return c.runs.load() >= 2; }));
  wq.cancel_sync(&c.item);
  EXPECT_EQ(c.runs.load(), 2);
}

TEST(WorkQueue, CancelSyncRemovesQueuedItem) {
  WorkQueue wq(1);
  std::promise<void> gate;
  Counter blocker;
  blocker.gate = &gate;
  wq.queue(&blocker.item);
  blocker.started.get_future().wait();
  Counter c;
  wq.queue(&c.item);
  wq.cancel_sync(&c.item);
  gate.set_value();
  wq.cancel_sync(&blocker.item);
  EXPECT_EQ(c.runs.load(), 0);
}

TEST(WorkQueue, DelayedItemRunsAfterDelayOrAtOnceWhenQueued) {
  WorkQueue wq(1);
  Counter c;
  auto t0 = std::chrono::steady_clock::now();
  wq.queue_delayed(&c.item, std::chrono::milliseconds(20));
  ASSERT_TRUE(eventually([&] { return c.runs.load() == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20));
  // Promoted by queue(): it runs now, not in an hour (the wait gives up after 10 s).
  Counter d;
  wq.queue_delayed(&d.item, std::chrono::hours(1));
  EXPECT_TRUE(wq.queue(&d.item));
  EXPECT_TRUE(eventually([&] { return d.runs.load() == 1; }));
  wq.cancel_sync(&d.item);
  wq.cancel_sync(&c.item);
  EXPECT_EQ(d.runs.load(), 1);
  EXPECT_EQ(c.runs.load(), 1);
}

TEST(WorkQueue, RunExecutesFunctions) {
  WorkQueue wq(2);
  std::promise<int> p;
  wq.run([&] { p.set_value(42); });
  EXPECT_EQ(p.get_future().get(), 42);
}

}  // namespace
}  // namespace netfs
