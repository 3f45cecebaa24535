// FidTable: numbering, paths across renames, staleness.
#include "p9/fid_table.h"

#include <gtest/gtest.h>

namespace netfs::p9 {
namespace {

TEST(P9FidTable, NumbersAreReusedLowestFirst) {
  FidTable t;
  uint32_t a = t.alloc(), b = t.alloc(), c = t.alloc();
  EXPECT_EQ(a, 1u);
  EXPECT_EQ(b, 2u);
  EXPECT_EQ(c, 3u);
  t.release(c);
  t.release(a);
  EXPECT_EQ(t.alloc(), 1u);
  EXPECT_EQ(t.alloc(), 3u);
  EXPECT_EQ(t.alloc(), 4u);
}

TEST(P9FidTable, RenameMovesEveryPathBelow) {
  FidTable t;
  t.set(1, FidInfo{{"a"}, {}, -1, false, true});
  t.set(2, FidInfo{{"a", "b", "c"}, {}, 2, false, true});
  t.set(3, FidInfo{{"ab"}, {}, -1, false, true});
  t.rename({"a"}, {"x", "y"});
  EXPECT_EQ(t.get(1)->path, (Path{"x", "y"}));
  EXPECT_EQ(t.get(2)->path, (Path{"x", "y", "b", "c"}));
  EXPECT_EQ(t.get(3)->path, (Path{"ab"})) << "a name with the same prefix is another file";
  EXPECT_EQ(t.get(2)->open_flags, 2);
}

TEST(P9FidTable, StaleAndJoin) {
  FidTable t;
  t.set(5, FidInfo{{"f"}, {}, -1, false, true});
  EXPECT_FALSE(t.is_stale(5));
  t.mark_stale(5);
  EXPECT_TRUE(t.is_stale(5));
  EXPECT_EQ(join_path({"a", "b"}, {"..", "c", ".", "d"}), (Path{"a", "c", "d"}));
  EXPECT_EQ(join_path({}, {"..", "x"}), (Path{"x"}));
}

TEST(P9FidTable, LocksFollowPosixRangeRules) {
  FidTable t;
  t.set(1, FidInfo{{"f"}, {}, 2, false, true, {}});
  t.record_lock(1, Lock{lock_type::kWrlck, 0, 100, 7, "me"});
  t.record_lock(1, Lock{lock_type::kRdlck, 0, 0, 8, "me"});  // another owner, to EOF
  t.record_lock(1, Lock{lock_type::kUnlck, 40, 20, 7, "me"});  // splits owner 7's range
  auto locks = t.get(1)->locks;
  ASSERT_EQ(locks.size(), 3u);
  EXPECT_EQ(locks[0], (HeldLock{lock_type::kWrlck, 0, 40, 7, "me"}));
  EXPECT_EQ(locks[1], (HeldLock{lock_type::kWrlck, 60, 100, 7, "me"}));
  EXPECT_EQ(locks[2], (HeldLock{lock_type::kRdlck, 0, UINT64_MAX, 8, "me"}));
  t.record_lock(1, Lock{lock_type::kUnlck, 0, 0, 7, "me"});
  EXPECT_EQ(t.get(1)->locks.size(), 1u);
}

}  // namespace
}  // namespace netfs::p9
