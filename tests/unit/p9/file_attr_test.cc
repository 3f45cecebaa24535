// p9::to_file_attr: the 9P attributes in the engine's terms (include/netfs/file_attr.h).
#include <gtest/gtest.h>

#include "p9/namespace_ops.h"

namespace netfs::p9 {
namespace {

Attr sample() {
  Attr a;
  a.qid = Qid{qid_type::kFile, 7, 0x1234};
  a.mode = 0100644;
  a.uid = 1000, a.gid = 100;
  a.nlink = 2, a.rdev = 0, a.size = 65537, a.blksize = 4096, a.blocks = 136;
  a.atime_sec = 1, a.atime_nsec = 2;
  a.mtime_sec = 3, a.mtime_nsec = 4;
  a.ctime_sec = 5, a.ctime_nsec = 6;
  return a;
}

TEST(FileAttr, TheQidIsTheIdentityAndTheVersion) {
  FileAttr f = to_file_attr(sample());
  EXPECT_EQ(f.id, 0x1234u);
  EXPECT_EQ(f.version, 7u);
  EXPECT_EQ(f.mode, 0100644u);
  EXPECT_EQ(f.uid, 1000u);
  EXPECT_EQ(f.gid, 100u);
  EXPECT_EQ(f.nlink, 2u);
  EXPECT_EQ(f.size, 65537u);
  EXPECT_EQ(f.blksize, 4096u);
  EXPECT_EQ(f.blocks, 136u);
  EXPECT_EQ(f.atime_sec, 1u);
  EXPECT_EQ(f.atime_nsec, 2u);
  EXPECT_EQ(f.mtime_sec, 3u);
  EXPECT_EQ(f.mtime_nsec, 4u);
  EXPECT_EQ(f.ctime_sec, 5u);
  EXPECT_EQ(f.ctime_nsec, 6u);
}

// Close-to-open compares tokens: qid.version, mtime and size each make another file
// version; the times of access and change do not.
TEST(FileAttr, TheChangeTokenIsVersionMtimeAndSize) {
  const ChangeToken t = to_file_attr(sample()).token();
  EXPECT_EQ(t, (ChangeToken{7, 3, 4, 65537}));
  Attr a = sample();
  a.atime_sec = 99, a.ctime_nsec = 99, a.nlink = 1;
  EXPECT_EQ(to_file_attr(a).token(), t);
  for (int field = 0; field < 4; field++) {
    a = sample();
    if (field == 0) a.qid.version++;
    if (field == 1) a.mtime_sec++;
    if (field == 2) a.mtime_nsec++;
    if (field == 3) a.size--;
    EXPECT_NE(to_file_attr(a).token(), t) << field;
  }
}

}  // namespace
}  // namespace netfs::p9
