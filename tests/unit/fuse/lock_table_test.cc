// LockTable: POSIX record-lock semantics between local owners, the one server lock that
// stands for all of them, and blocking waits woken by unlocks (no mount, no server: the
// server is a function that records what it was asked).
#include "fuse/lock_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "fakes/eventually.h"

namespace netfs::fuse {
namespace {

using testing::eventually;

RecordLock lk(uint64_t owner, short type, uint64_t start, uint64_t end, pid_t pid = 0) {
  RecordLock l;
  l.owner = owner;
  l.type = type;
  l.start = start;
  l.end = end;
  l.pid = pid;
  return l;
}

// A server that grants everything unless told to refuse, and records each change.
struct FakeServer {
  std::mutex mu;
  std::vector<std::pair<ServerMode, ServerMode>> calls;
  int refuse_next = 0;       // refuse this many changes that take or strengthen a lock
  bool refuse_always = false;
  LockTable::ServerFn fn() {
    return [this](ServerMode from, ServerMode to) -> Status {
      std::lock_guard g(mu);
      calls.emplace_back(from, to);
      if (to > from && (refuse_always || refuse_next > 0)) {
        if (refuse_next > 0) refuse_next--;
        return make_error(EAGAIN);
      }
      return ok_status();
    };
  }
  std::vector<std::pair<ServerMode, ServerMode>> taken() {
    std::lock_guard g(mu);
    return calls;
  }
};

// Waits (bounded) until the table has n waiters (a condition, not a timed pause).
void until_waiting(const LockTable& t, size_t n) {
  ASSERT_TRUE(eventually([&] { return t.waiting() >= n; })) << "waiters: " << t.waiting() << " of " << n;
}

TEST(LockTable, AnOwnersLocksMergeSplitAndConvert) {
  FakeServer s;
  LockTable t(s.fn());
  ASSERT_TRUE(t.set(lk(1, F_RDLCK, 0, 9), false).ok());
  ASSERT_TRUE(t.set(lk(1, F_RDLCK, 10, 19), false).ok());
  // Touching ranges of one type become one.
  EXPECT_EQ(t.locks(), (std::vector<RecordLock>{lk(1, F_RDLCK, 0, 19)}));
  // A write lock in the middle converts that part and splits the rest.
  ASSERT_TRUE(t.set(lk(1, F_WRLCK, 5, 14), false).ok());
  EXPECT_EQ(t.locks(), (std::vector<RecordLock>{lk(1, F_RDLCK, 0, 4), lk(1, F_WRLCK, 5, 14), lk(1, F_RDLCK, 15, 19)}));
  // Back to read over all of it: one range again.
  ASSERT_TRUE(t.set(lk(1, F_RDLCK, 0, 19), false).ok());
  EXPECT_EQ(t.locks(), (std::vector<RecordLock>{lk(1, F_RDLCK, 0, 19)}));
  // Different types that touch stay apart.
  ASSERT_TRUE(t.set(lk(1, F_WRLCK, 20, 29), false).ok());
  EXPECT_EQ(t.locks(), (std::vector<RecordLock>{lk(1, F_RDLCK, 0, 19), lk(1, F_WRLCK, 20, 29)}));
  ASSERT_TRUE(t.set(lk(1, F_UNLCK, 0, kLockEof), false).ok());
  EXPECT_TRUE(t.empty());
}

TEST(LockTable, OnlyDifferentOwnersConflict) {
  FakeServer s;
  LockTable t(s.fn());
  ASSERT_TRUE(t.set(lk(1, F_WRLCK, 0, 9), false).ok());
  EXPECT_TRUE(t.set(lk(1, F_WRLCK, 5, 20), false).ok());  // its own: no conflict
  Status st = t.set(lk(2, F_RDLCK, 20, 20), false);
  EXPECT_EQ(st.errnum(), EAGAIN);
  st = t.set(lk(2, F_WRLCK, 0, 0), false);
  EXPECT_EQ(st.errnum(), EAGAIN);
  EXPECT_TRUE(t.set(lk(2, F_WRLCK, 21, 30), false).ok());  // next to it: fine
  // Readers share; a writer among them does not.
  ASSERT_TRUE(t.set(lk(1, F_RDLCK, 100, 200), false).ok());
  EXPECT_TRUE(t.set(lk(2, F_RDLCK, 150, 160), false).ok());
  EXPECT_TRUE(t.set(lk(3, F_RDLCK, 100, 100), false).ok());
  EXPECT_EQ(t.set(lk(3, F_WRLCK, 160, 170), false).errnum(), EAGAIN);
  // Owner 1 cannot upgrade where owner 2 reads either.
  EXPECT_EQ(t.set(lk(1, F_WRLCK, 150, 150), false).errnum(), EAGAIN);
  EXPECT_EQ(t.set(lk(1, F_RDLCK, 5, 1), false).errnum(), EINVAL);
  EXPECT_EQ(t.set(lk(1, 42, 0, 1), false).errnum(), EINVAL);
}

TEST(LockTable, UnlockOfAMiddlePartSplits) {
  FakeServer s;
  LockTable t(s.fn());
  ASSERT_TRUE(t.set(lk(1, F_WRLCK, 0, 99), false).ok());
  ASSERT_TRUE(t.set(lk(1, F_UNLCK, 40, 59), false).ok());
  EXPECT_EQ(t.locks(), (std::vector<RecordLock>{lk(1, F_WRLCK, 0, 39), lk(1, F_WRLCK, 60, 99)}));
  EXPECT_TRUE(t.set(lk(2, F_WRLCK, 40, 59), false).ok());
  EXPECT_EQ(t.set(lk(2, F_WRLCK, 39, 39), false).errnum(), EAGAIN);
  EXPECT_EQ(t.set(lk(2, F_WRLCK, 60, 60), false).errnum(), EAGAIN);
  // Unlocking what one does not hold is no error and changes nothing.
  ASSERT_TRUE(t.set(lk(3, F_UNLCK, 0, kLockEof), false).ok());
  EXPECT_EQ(t.locks().size(), 3u);
}

TEST(LockTable, ToTheEndOfTheFileCoversEveryLaterByte) {
  FakeServer s;
  LockTable t(s.fn());
  ASSERT_TRUE(t.set(lk(1, F_WRLCK, 100, kLockEof), false).ok());
  EXPECT_EQ(t.set(lk(2, F_RDLCK, uint64_t(1) << 40, (uint64_t(1) << 40) + 10), false).errnum(), EAGAIN);
  EXPECT_EQ(t.set(lk(2, F_RDLCK, 50, kLockEof), false).errnum(), EAGAIN);
  EXPECT_TRUE(t.set(lk(2, F_RDLCK, 0, 99), false).ok());
  // Unlocking a tail keeps the head, still a range of its own.
  ASSERT_TRUE(t.set(lk(1, F_UNLCK, 200, kLockEof), false).ok());
  EXPECT_EQ(t.locks(), (std::vector<RecordLock>{lk(1, F_WRLCK, 100, 199), lk(2, F_RDLCK, 0, 99)}));
  // A lock to the end merges with one that touches its start.
  ASSERT_TRUE(t.set(lk(1, F_WRLCK, 200, kLockEof), false).ok());
  EXPECT_EQ(t.locks()[0], lk(1, F_WRLCK, 100, kLockEof));
}

TEST(LockTable, TestReportsTheConflictingLockWithItsPid) {
  FakeServer s;
  LockTable t(s.fn());
  ASSERT_TRUE(t.set(lk(1, F_WRLCK, 10, 19, 4242), false).ok());
  ASSERT_TRUE(t.set(lk(2, F_RDLCK, 30, kLockEof, 777), false).ok());
  auto c = t.test(lk(3, F_RDLCK, 0, 15));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ(**c, lk(1, F_WRLCK, 10, 19, 4242));
  c = t.test(lk(3, F_WRLCK, 1000, 1000));
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ(**c, lk(2, F_RDLCK, 30, kLockEof, 777));
  // Readers do not block readers; an owner's own locks never block it.
  c = t.test(lk(3, F_RDLCK, 1000, 1000));
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  c = t.test(lk(1, F_WRLCK, 10, 19));
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  EXPECT_EQ(t.test(lk(1, F_UNLCK, 0, 1)).errnum(), EINVAL);
}

TEST(LockTable, TestAsksTheServerOnlyWithoutAServerLockOfOurs) {
  FakeServer s;
  LockTable t(s.fn());
  int asked = 0;
  auto remote = [&](short type) -> Result<std::optional<RecordLock>> {
    asked++;
    if (type == F_WRLCK) return std::optional<RecordLock>(lk(0, F_WRLCK, 0, kLockEof));
    return std::optional<RecordLock>();
  };
  auto c = t.test(lk(1, F_WRLCK, 0, 0), remote);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->type, F_WRLCK);
  EXPECT_EQ(asked, 1);
  ASSERT_TRUE(t.set(lk(1, F_RDLCK, 0, 0), false).ok());
  // We hold the server's read lock now: a read cannot be refused elsewhere, and the
  // server is not asked (its test would run on our own fid).
  c = t.test(lk(2, F_RDLCK, 5, 5), remote);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  EXPECT_EQ(asked, 1);
}

TEST(LockTable, TheServerHoldsTheUnionOfTheLocalLocks) {
  FakeServer s;
  LockTable t(s.fn());
  using M = ServerMode;
  ASSERT_TRUE(t.set(lk(1, F_RDLCK, 0, 9), false).ok());
  ASSERT_TRUE(t.set(lk(2, F_RDLCK, 5, 20), false).ok());     // already held for reading
  ASSERT_TRUE(t.set(lk(2, F_WRLCK, 100, 100), false).ok());  // upgrade for all
  EXPECT_EQ(t.server_mode(), M::kWrite);
  ASSERT_TRUE(t.set(lk(2, F_UNLCK, 100, 100), false).ok());  // no writer left: down
  EXPECT_EQ(t.server_mode(), M::kRead);
  t.release_owner(1);
  EXPECT_EQ(t.server_mode(), M::kRead);  // owner 2 still reads
  t.release_owner(2);
  EXPECT_EQ(t.server_mode(), M::kNone);
  EXPECT_EQ(s.taken(), (std::vector<std::pair<M, M>>{
                           {M::kNone, M::kRead}, {M::kRead, M::kWrite}, {M::kWrite, M::kRead}, {M::kRead, M::kNone}}));
}

TEST(LockTable, AServerRefusalIsEagainAndLeavesNothingHeld) {
  FakeServer s;
  s.refuse_next = 1;
  LockTable t(s.fn());
  EXPECT_EQ(t.set(lk(1, F_WRLCK, 0, 9), false).errnum(), EAGAIN);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.server_mode(), ServerMode::kNone);
  EXPECT_TRUE(t.set(lk(1, F_WRLCK, 0, 9), false).ok());
}

TEST(LockTable, ARefusedUpgradeTakesTheReadLockBack) {
  // diod's Tlock is flock(2), whose refused read → write conversion drops the read lock.
  FakeServer s;
  LockTable t(s.fn());
  using M = ServerMode;
  ASSERT_TRUE(t.set(lk(1, F_RDLCK, 0, 9), false).ok());
  s.refuse_next = 1;
  EXPECT_EQ(t.set(lk(2, F_WRLCK, 50, 60), false).errnum(), EAGAIN);
  EXPECT_EQ(t.server_mode(), M::kRead);
  EXPECT_EQ(s.taken(), (std::vector<std::pair<M, M>>{{M::kNone, M::kRead}, {M::kRead, M::kWrite}, {M::kNone, M::kRead}}));
  EXPECT_EQ(t.locks(), (std::vector<RecordLock>{lk(1, F_RDLCK, 0, 9)}));
}

TEST(LockTable, ABlockedWaiterProceedsWhenTheHolderUnlocks) {
  FakeServer s;
  LockTable t(s.fn());
  ASSERT_TRUE(t.set(lk(1, F_WRLCK, 0, 9), false).ok());
  std::atomic<bool> done{false};
  Status got = make_error(EIO);
  std::thread w([&] {
    got = t.set(lk(2, F_WRLCK, 5, 5), true);
    done = true;
  });
  until_waiting(t, 1);
  EXPECT_FALSE(done.load());
  // An unlock elsewhere wakes it, but it still conflicts: it waits on.
  ASSERT_TRUE(t.set(lk(1, F_UNLCK, 0, 0), false).ok());
  until_waiting(t, 1);
  EXPECT_FALSE(done.load());
  ASSERT_TRUE(t.set(lk(1, F_UNLCK, 0, kLockEof), false).ok());
  w.join();
  EXPECT_TRUE(got.ok());
  EXPECT_EQ(t.locks(), (std::vector<RecordLock>{lk(2, F_WRLCK, 5, 5)}));
}

TEST(LockTable, ABlockedWaiterProceedsWhenTheHolderCloses) {
  FakeServer s;
  LockTable t(s.fn());
  ASSERT_TRUE(t.set(lk(1, F_RDLCK, 0, kLockEof), false).ok());
  ASSERT_TRUE(t.set(lk(3, F_RDLCK, 0, kLockEof), false).ok());
  Status got = make_error(EIO);
  std::thread w([&] { got = t.set(lk(2, F_WRLCK, 0, kLockEof), true); });
  until_waiting(t, 1);
  t.release_owner(1);
  until_waiting(t, 1);  // owner 3 still reads
  t.release_owner(3);
  w.join();
  EXPECT_TRUE(got.ok());
  EXPECT_EQ(t.server_mode(), ServerMode::kWrite);
}

TEST(LockTable, ACancelEndsAWait) {
  FakeServer s;
  LockTable t(s.fn());
  ASSERT_TRUE(t.set(lk(1, F_WRLCK, 0, 9), false).ok());
  std::atomic<bool> cancel{false};
  Status got = ok_status();
  std::thread w([&] { got = t.set(lk(2, F_RDLCK, 0, 0), true, &cancel); });
  until_waiting(t, 1);
  cancel = true;
  t.wake();
  w.join();
  EXPECT_EQ(got.errnum(), EINTR);
  EXPECT_EQ(t.locks(), (std::vector<RecordLock>{lk(1, F_WRLCK, 0, 9)}));
}

TEST(LockTable, AWaiterPollsTheServerUntilItGrants) {
  FakeServer s;
  s.refuse_next = 3;
  LockTable t(s.fn(), std::chrono::milliseconds(1));
  ASSERT_TRUE(t.set(lk(1, F_WRLCK, 0, kLockEof), true).ok());
  EXPECT_EQ(s.taken().size(), 4u);
  EXPECT_EQ(t.server_mode(), ServerMode::kWrite);
}

TEST(LockTable, ACancelEndsAServerPoll) {
  FakeServer s;
  s.refuse_always = true;
  LockTable t(s.fn(), std::chrono::milliseconds(1));
  std::atomic<bool> cancel{false};
  Status got = ok_status();
  std::thread w([&] { got = t.set(lk(1, F_WRLCK, 0, kLockEof), true, &cancel); });
  // At least one refusal seen, so the waiter is polling.
  ASSERT_TRUE(eventually([&] { return !s.taken().empty(); }));
  cancel = true;
  t.wake();
  w.join();
  EXPECT_EQ(got.errnum(), EINTR);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.server_mode(), ServerMode::kNone);
}

TEST(LockTable, ManyOwnersContendingEndWithNothingHeld) {
  // Threads lock and unlock overlapping ranges, blocking; each checks that while it holds
  // its write lock no one else's lock overlaps it.
  FakeServer s;
  LockTable t(s.fn());
  std::atomic<int> violations{0};
  std::vector<std::thread> ts;
  for (uint64_t o = 1; o <= 4; o++) {
    ts.emplace_back([&, o] {
      for (int i = 0; i < 300; i++) {
        uint64_t start = (o * 7 + i) % 20;
        short type = (i % 3 == 0) ? F_RDLCK : F_WRLCK;
        if (!t.set(lk(o, type, start, start + 5), true).ok()) violations++;
        if (type == F_WRLCK) {
          for (const RecordLock& x : t.locks())
            if (x.owner != o && x.start <= start + 5 && start <= x.end) violations++;
        }
        if (!t.set(lk(o, F_UNLCK, 0, kLockEof), false).ok()) violations++;
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.server_mode(), ServerMode::kNone);
}

}  // namespace
}  // namespace netfs::fuse
