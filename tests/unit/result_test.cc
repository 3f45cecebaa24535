#include "netfs/result.h"

#include <gtest/gtest.h>

namespace netfs {
namespace {

Result<int> half(int x) {
  if (x % 2) return make_error(EINVAL, "odd");
  return x / 2;
}

Status twice_half(int x, int* out) {
  auto r = half(x);
  NETFS_TRY(r);
  *out = *r;
  return {};
}

TEST(Result, CarriesValueOrErrno) {
  EXPECT_EQ(*half(8), 4);
  auto e = half(3);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_NE(e.error().message().find("odd"), std::string::npos);
  int out = 0;
  EXPECT_EQ(twice_half(5, &out).errnum(), EINVAL);
  EXPECT_TRUE(twice_half(6, &out).ok());
  EXPECT_EQ(out, 3);
}

TEST(Result, RetryableIsDecidedInOnePlace) {
  EXPECT_TRUE(is_retryable(ECONNRESET));
  EXPECT_TRUE(is_retryable(EAGAIN));
  EXPECT_FALSE(is_retryable(ENOSPC));
  EXPECT_FALSE(is_retryable(EIO));
}

}  // namespace
}  // namespace netfs
