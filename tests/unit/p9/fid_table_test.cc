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
  t.set(1, FidInfo{{"a"}, {}, -1, false, true, {}, 0});
  t.set(2, FidInfo{{"a", "b", "c"}, {}, 2, false, true, {}, 0});
  t.set(3, FidInfo{{"ab"}, {}, -1, false, true, {}, 0});
  t.rename({"a"}, {"x", "y"});
  EXPECT_EQ(t.get(1)->path, (Path{"x", "y"}));
  EXPECT_EQ(t.get(2)->path, (Path{"x", "y", "b", "c"}));
  EXPECT_EQ(t.get(3)->path, (Path{"ab"})) << "a name with the same prefix is another file";
  EXPECT_EQ(t.get(2)->open_flags, 2);
}

// A walk's new fid takes its base's path as it is when the walk is recorded: a rename
// that moved the base while the Twalk was out must not leave the new fid on the old path
// (a reconnect rebuilds fids by path).
TEST(P9FidTable, WalkedEntryJoinsTheBasesCurrentPath) {
  FidTable t;
  t.set(1, FidInfo{{"d"}, Qid{0x80, 1, 10}, -1, false, true, {}, 0});
  t.rename({"d"}, {"x"});  // came while the walk from fid 1 was out
  ASSERT_TRUE(t.walked_entry(1, 2, {"e", "f"}, Qid{0, 3, 30}));
  auto w = t.get(2);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->path, (Path{"x", "e", "f"}));
  EXPECT_EQ(w->qid.path, 30u);
  EXPECT_EQ(w->open_flags, -1);
  EXPECT_TRUE(w->rebuildable);
  t.erase(1);
  EXPECT_FALSE(t.walked_entry(1, 3, {"g"}, Qid{}));
  EXPECT_FALSE(t.get(3));
}

TEST(P9FidTable, CloneEntryCopiesPathAndQidAndFollowsRenames) {
  FidTable t;
  Qid q{0x80, 7, 42};
  // An open fid with a lock and an iounit: the clone gets the name, not the open state.
  t.set(1, FidInfo{{"d", "e"}, q, 2, false, true, {HeldLock{}}, 4096});
  ASSERT_TRUE(t.clone_entry(1, 2));
  auto c = t.get(2);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->path, (Path{"d", "e"}));
  EXPECT_EQ(c->qid.path, 42u);
  EXPECT_EQ(c->qid.type, 0x80);
  EXPECT_EQ(c->open_flags, -1);
  EXPECT_TRUE(c->locks.empty());
  EXPECT_EQ(c->iounit, 0u);
  EXPECT_TRUE(c->rebuildable);
  EXPECT_FALSE(c->stale);
  // The clone is an ordinary entry: a later rename of (an ancestor of) its directory
  // moves it with the original.
  t.rename({"d"}, {"x"});
  EXPECT_EQ(t.get(1)->path, (Path{"x", "e"}));
  EXPECT_EQ(t.get(2)->path, (Path{"x", "e"}));
}

TEST(P9FidTable, CloneEntryOfMissingOrStaleFidFails) {
  FidTable t;
  EXPECT_FALSE(t.clone_entry(1, 2));
  EXPECT_FALSE(t.contains(2));
  t.set(1, FidInfo{{"d"}, {}, -1, false, true, {}, 0});
  t.erase(1);
  EXPECT_FALSE(t.clone_entry(1, 2)) << "a clunked directory has nothing to clone";
  EXPECT_FALSE(t.contains(2));
  t.set(3, FidInfo{{"s"}, {}, -1, false, true, {}, 0});
  t.mark_stale(3);
  EXPECT_FALSE(t.clone_entry(3, 4)) << "a stale fid names no known file";
  EXPECT_FALSE(t.contains(4));
  // `to` untouched on failure, even if it held an entry.
  t.set(5, FidInfo{{"keep"}, {}, -1, false, true, {}, 0});
  EXPECT_FALSE(t.clone_entry(1, 5));
  EXPECT_EQ(t.get(5)->path, (Path{"keep"}));
}

TEST(P9FidTable, StaleAndJoin) {
  FidTable t;
  t.set(5, FidInfo{{"f"}, {}, -1, false, true, {}, 0});
  EXPECT_FALSE(t.is_stale(5));
  t.mark_stale(5);
  EXPECT_TRUE(t.is_stale(5));
  EXPECT_EQ(join_path({"a", "b"}, {"..", "c", ".", "d"}), (Path{"a", "c", "d"}));
  EXPECT_EQ(join_path({}, {"..", "x"}), (Path{"x"}));
}

TEST(P9FidTable, AGoneNameMakesOnlyUnopenedFidsOfOtherFilesThereStale) {
  FidTable t;
  Qid a, b;
  a.path = 10;
  b.path = 20;
  t.set(1, FidInfo{{"d", "f"}, a, -1, false, true, {}, 0});  // walked to d/f: file a
  t.set(2, FidInfo{{"d", "f"}, a, 2, false, true, {}, 0});   // open: the server holds the file
  t.set(3, FidInfo{{"d", "f"}, b, -1, false, true, {}, 0});  // the file renamed over it
  t.set(4, FidInfo{{"d", "g"}, a, -1, false, true, {}, 0});  // another name
  t.set(5, FidInfo{{"d", "f", "x"}, a, -1, false, true, {}, 0});
  EXPECT_EQ(t.mark_stale_at({"d", "f"}, b.path), 1u);
  EXPECT_TRUE(t.is_stale(1));
  EXPECT_FALSE(t.is_stale(2));
  EXPECT_FALSE(t.is_stale(3));
  EXPECT_FALSE(t.is_stale(4));
  EXPECT_FALSE(t.is_stale(5));
  EXPECT_EQ(t.mark_stale_at({"d", "f"}, UINT64_MAX), 1u);  // unlinked: every file there
  EXPECT_TRUE(t.is_stale(3));
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
