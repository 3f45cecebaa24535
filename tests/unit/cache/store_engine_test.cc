// The Store's cookie under the real engine: what write-back copies through stream 1 is
// served to a later engine (a remount) from disk, with no read from the server; a
// corrupted granule falls back to the server and returns the right bytes.
#include <fcntl.h>
#include <unistd.h>

#include "fakes/memory_backend.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/read.h"
#include "netfs/write.h"
#include "unit/cache/store_fixture.h"

namespace netfs::cache::testing {
namespace {

using netfs::testing::MemoryBackend;

class StoreEngineTest : public StoreTest {
 protected:
  std::vector<std::byte> read_file(Engine& e, Inode& inode, size_t n) {
    std::vector<std::byte> out(n);
    ReadaheadState ra;
    size_t done = 0;
    while (done < n) {
      auto r = buffered_read(inode, ra, done, out.data() + done, std::min<size_t>(n - done, 100000));
      EXPECT_TRUE(r.ok());
      if (!r.ok() || !*r) break;
      done += *r;
    }
    out.resize(done);
    return out;
  }
};

TEST_F(StoreEngineTest, WrittenDataIsReadFromTheCacheAfterARemount) {
  open_store();
  MemoryBackend::Config bc;
  bc.async = true;
  bc.max_len = 65536;
  MemoryBackend backend(bc);
  auto data = random_bytes(4 * 1024 * 1024 + 4321, 21);
  {
    auto c = cookie(5);
    Engine e;
    auto inode = e.new_inode(backend, 1, 0, c.get());
    ASSERT_TRUE(perform_write(*inode, 0, data.data(), data.size(), WriteMode::kWriteBack).ok());
    Errseq::Cursor cur = inode->wb_err().sample();
    ASSERT_TRUE(fsync(*inode, cur).ok());
    EXPECT_EQ(backend.contents(1), data);
    inode.reset();
    backend.drain();
  }
  store_->wait_idle();
  store_.reset();  // the "unmount"
  open_store();
  auto c = cookie(5);
  uint64_t cached = 0;
  while (uint64_t n = c->present(cached, data.size() - cached)) cached += n;
  EXPECT_EQ(cached, data.size());
  backend.reset_counts();
  Engine e;
  auto inode = e.new_inode(backend, 1, data.size(), c.get());
  EXPECT_EQ(read_file(e, *inode, data.size()), data);
  EXPECT_EQ(backend.counts().read_calls, 0u);
  EXPECT_EQ(e.stats().download_bytes.load(), 0u);
  EXPECT_GE(e.stats().cache_read_bytes.load(), data.size());
  inode.reset();
}

TEST_F(StoreEngineTest, ACorruptGranuleIsReadFromTheServerInstead) {
  open_store();
  MemoryBackend backend;
  auto data = random_bytes(1024 * 1024, 22);
  backend.set_contents(1, data);
  auto c = cookie(5);
  ASSERT_TRUE(c->write_bytes(0, data.data(), data.size(), data.size()).ok());
  int fd = ::open(object_file(".data").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  char x = 1;
  ASSERT_EQ(::pwrite(fd, &x, 1, 300000), 1);
  ::close(fd);
  Engine e;
  auto inode = e.new_inode(backend, 1, data.size(), c.get());
  EXPECT_EQ(read_file(e, *inode, data.size()), data);
  EXPECT_EQ(store_->stats().corrupt_granules.load(), 1u);
  EXPECT_GT(backend.counts().read_calls, 0u);
  inode.reset();
}

}  // namespace
}  // namespace netfs::cache::testing
