// The Store's hit and miss counts under the real read path: each byte a read asks for is
// counted once, as a hit (served from the cache) or a miss (fetched from the server),
// however the read is split into subrequests. Issue 16: a cold 64 MiB read reported
// 985,891,280 miss bytes, because the read path asks present() again for every remainder
// of a range it sends to the server in msize-sized pieces.
#include "fakes/memory_backend.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/read.h"
#include "unit/cache/store_fixture.h"

namespace netfs::cache::testing {
namespace {

using netfs::testing::MemoryBackend;

class StoreReadStats : public StoreTest {
 protected:
  std::vector<std::byte> read_all(Inode& inode, size_t n) {
    std::vector<std::byte> out(n);
    ReadaheadState ra;
    size_t done = 0;
    while (done < n) {
      auto r = buffered_read(inode, ra, done, out.data() + done, std::min<size_t>(n - done, 128 * 1024));
      EXPECT_TRUE(r.ok());
      if (!r.ok() || !*r) break;
      done += *r;
    }
    out.resize(done);
    return out;
  }
  uint64_t hits() { return store_->stats().hit_bytes.load(); }
  uint64_t misses() { return store_->stats().miss_bytes.load(); }
};

// 8 MiB and an odd tail, with the server's subrequests limited to 64 KiB (as msize
// limits them), so each readahead window goes to the server in many pieces.
constexpr size_t kSize = 8 * 1024 * 1024 + 4321;

TEST_F(StoreReadStats, AColdReadCountsEveryByteOnceAsAMiss) {
  open_store();
  MemoryBackend::Config bc;
  bc.max_len = 65536;
  MemoryBackend backend(bc);
  auto data = random_bytes(kSize, 31);
  backend.set_contents(1, data);
  auto c = cookie(7);
  Engine e;
  auto inode = e.new_inode(backend, 1, data.size(), c.get());
  EXPECT_EQ(read_all(*inode, data.size()), data);
  EXPECT_EQ(e.stats().download_bytes.load(), kSize);
  EXPECT_EQ(misses(), kSize);
  EXPECT_EQ(hits(), 0u);
  inode.reset();
}

TEST_F(StoreReadStats, AWarmReadCountsEveryByteOnceAsAHit) {
  open_store();
  MemoryBackend::Config bc;
  bc.max_len = 65536;
  MemoryBackend backend(bc);
  auto data = random_bytes(kSize, 32);
  backend.set_contents(1, data);
  auto c = cookie(7);
  ASSERT_TRUE(c->write_bytes(0, data.data(), data.size(), data.size()).ok());
  uint64_t h0 = hits(), m0 = misses();
  Engine e;
  auto inode = e.new_inode(backend, 1, data.size(), c.get());
  EXPECT_EQ(read_all(*inode, data.size()), data);
  EXPECT_EQ(backend.counts().read_calls, 0u);
  EXPECT_EQ(e.stats().cache_read_bytes.load(), kSize);
  EXPECT_EQ(hits() - h0, kSize);
  EXPECT_EQ(misses() - m0, 0u);
  inode.reset();
}

// Half cached (the first 4 MiB): the rest is counted once as a miss.
TEST_F(StoreReadStats, APartlyCachedReadCountsHitsAndMissesOnce) {
  open_store();
  MemoryBackend::Config bc;
  bc.max_len = 65536;
  MemoryBackend backend(bc);
  auto data = random_bytes(kSize, 33);
  backend.set_contents(1, data);
  auto c = cookie(7);
  constexpr size_t kCached = 4 * 1024 * 1024;
  ASSERT_TRUE(c->write_bytes(0, data.data(), kCached, data.size()).ok());
  uint64_t h0 = hits(), m0 = misses();
  Engine e;
  auto inode = e.new_inode(backend, 1, data.size(), c.get());
  EXPECT_EQ(read_all(*inode, data.size()), data);
  EXPECT_EQ(hits() - h0, kCached);
  EXPECT_EQ(misses() - m0, kSize - kCached);
  EXPECT_EQ(e.stats().download_bytes.load(), kSize - kCached);
  inode.reset();
}

}  // namespace
}  // namespace netfs::cache::testing
