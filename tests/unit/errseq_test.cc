#include "netfs/errseq.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace netfs {
namespace {

TEST(Errseq, EachCursorSeesAnErrorOnce) {
  Errseq e;
  Errseq::Cursor a = e.sample(), b = e.sample();
  EXPECT_EQ(e.check_and_advance(a), 0);
  e.set(EIO);
  EXPECT_EQ(e.check_and_advance(a), EIO);
  EXPECT_EQ(e.check_and_advance(a), 0);
  EXPECT_EQ(e.check_and_advance(b), EIO);  // b was open too
  EXPECT_EQ(e.check_and_advance(b), 0);
}

TEST(Errseq, NewOpenAfterUnseenErrorSeesIt) {
  Errseq e;
  e.set(ENOSPC);
  Errseq::Cursor c = e.sample();
  EXPECT_EQ(e.check_and_advance(c), ENOSPC);
  Errseq::Cursor late = e.sample();  // the error has been seen now
  EXPECT_EQ(e.check_and_advance(late), 0);
}

TEST(Errseq, RepeatedUnseenErrorIsOneEventButSeenErrorRecurs) {
  Errseq e;
  Errseq::Cursor c = e.sample();
  e.set(EIO);
  e.set(EIO);
  EXPECT_EQ(e.check_and_advance(c), EIO);
  EXPECT_EQ(e.check_and_advance(c), 0);
  e.set(EIO);  // after being seen, the same errno is a new event
  EXPECT_EQ(e.check_and_advance(c), EIO);
  e.set(ENOSPC);
  EXPECT_EQ(e.check(c), ENOSPC);
  EXPECT_EQ(e.check_and_advance(c), ENOSPC);
}

}  // namespace
}  // namespace netfs
