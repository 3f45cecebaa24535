// Regression test: the read path crashed (use-after-free, 16 runs in 20) when the cache
// held a file whose size is not a multiple of the folio size: the cache subrequest
// completed at once, the collector freed the rolling-buffer segment, and the issuer then
// stepped its iterator through it to the zero-fill piece after EOF.
#include <gtest/gtest.h>

#include <random>

#include "fakes/memory_backend.h"
#include "fakes/memory_cookie.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/read.h"

namespace netfs::testing {
namespace {

TEST(MemoryCookieEof, CachedFileWithUnalignedSizeReadsBack) {
  size_t n = std::stoul(std::getenv("EOF_N") ? std::getenv("EOF_N") : "4198625");
  std::vector<std::byte> data(n);
  std::mt19937 g(1);
  for (auto& b : data) b = static_cast<std::byte>(g());
  MemoryBackend backend;
  backend.set_contents(1, data);
  MemoryCookie cookie;
  cookie.preload(0, data);
  Engine e;
  auto inode = e.new_inode(backend, 1, n, &cookie);
  std::vector<std::byte> out(n);
  ReadaheadState ra;
  size_t done = 0;
  while (done < n) {
    auto r = buffered_read(*inode, ra, done, out.data() + done, std::min<size_t>(n - done, 100000));
    ASSERT_TRUE(r.ok());
    if (!*r) break;
    done += *r;
  }
  EXPECT_EQ(out, data);
}

}  // namespace
}  // namespace netfs::testing
