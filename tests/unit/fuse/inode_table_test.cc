#include "fuse/inode_table.h"

#include <gtest/gtest.h>

namespace netfs::fuse {
namespace {

p9::Qid file_qid(uint64_t path) { return p9::Qid{p9::qid_type::kFile, 0, path}; }

std::unique_ptr<InodeTable> make_table() {
  auto root = std::make_shared<Node>();
  root->qid = p9::Qid{p9::qid_type::kDir, 0, 1};
  root->fid = 0;
  return std::make_unique<InodeTable>(root);
}

TEST(InodeTable, SameServerFileIsOneNodeAndForgetCountsLookups) {
  auto t = make_table();
  bool used;
  auto a = t->add_lookup(file_qid(42), 7, &used);
  EXPECT_TRUE(used);
  EXPECT_NE(a->ino, InodeTable::kRootIno);
  auto b = t->add_lookup(file_qid(42), 8, &used);
  EXPECT_FALSE(used);  // the caller swaps or clunks fid 8
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->nlookup, 2u);
  EXPECT_EQ(t->forget(a->ino, 1), nullptr);
  auto gone = t->forget(a->ino, 1);
  EXPECT_EQ(gone, a);
  EXPECT_EQ(t->get(a->ino), nullptr);
  // A later lookup of the same file gets a new number: numbers are never reused.
  auto c = t->add_lookup(file_qid(42), 9, &used);
  EXPECT_TRUE(used);
  EXPECT_NE(c->ino, a->ino);
}

TEST(InodeTable, RootIsNeverForgottenAndOpenNodesStay) {
  auto t = make_table();
  EXPECT_EQ(t->forget(InodeTable::kRootIno, 100), nullptr);
  EXPECT_NE(t->get(InodeTable::kRootIno), nullptr);
  bool used;
  auto n = t->add_lookup(file_qid(5), 3, &used);
  n->open_count = 1;
  EXPECT_EQ(t->forget(n->ino, 1), nullptr);
  EXPECT_NE(t->get(n->ino), nullptr);
  // Still open: prune keeps it.
  EXPECT_EQ(t->prune(n), nullptr);
  EXPECT_NE(t->get(n->ino), nullptr);
  n->open_count = 0;
  // Closed: it leaves, and the caller gets it to retire (its fids, its engine inode).
  EXPECT_EQ(t->prune(n), n);
  EXPECT_EQ(t->get(n->ino), nullptr);
  // Once only: a second prune has nothing to hand back.
  EXPECT_EQ(t->prune(n), nullptr);
}

TEST(InodeTable, AnIoFidIsMarkedOnlyOnANewNode) {
  auto t = make_table();
  bool used;
  auto n = t->add_lookup(file_qid(9), 11, &used, /*fid_is_io=*/true);
  EXPECT_TRUE(used);
  EXPECT_EQ(n->fid, 11u);
  EXPECT_TRUE(n->fid_is_io);
  // Known already: its fid and flag stay; fid 12 is the caller's to place.
  auto again = t->add_lookup(file_qid(9), 12, &used, /*fid_is_io=*/true);
  EXPECT_FALSE(used);
  EXPECT_EQ(again->fid, 11u);
  EXPECT_FALSE(t->add_lookup(file_qid(10), 13, &used)->fid_is_io);
}

TEST(InodeTable, ReusedNumberOfAnotherKindIsANewNode) {
  auto t = make_table();
  bool used;
  auto f = t->add_lookup(file_qid(77), 3, &used);
  auto d = t->add_lookup(p9::Qid{p9::qid_type::kDir, 0, 77}, 4, &used);
  EXPECT_TRUE(used);
  EXPECT_NE(f, d);
}

}  // namespace
}  // namespace netfs::fuse
