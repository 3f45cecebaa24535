// The Store and its cookies on disk: presence at granule granularity, checksums, what
// survives a restart, what a crash or corruption leaves, and the size bound.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "cache/content_map.h"
#include "unit/cache/store_fixture.h"

namespace netfs::cache::testing {
namespace {

TEST_F(StoreTest, WrittenGranulesArePresentAndReadBack) {
  open_store();
  auto c = cookie(7);
  auto data = random_bytes(4 * kG, 1);
  EXPECT_EQ(c->present(0, data.size()), 0u);
  ASSERT_TRUE(c->write_bytes(0, data.data(), data.size(), data.size()).ok());
  EXPECT_EQ(c->present(0, data.size()), data.size());
  EXPECT_EQ(c->present(kG + 5, 100), 100u);
  std::vector<std::byte> out(3 * kG);
  auto r = c->read_bytes(kG / 2, out.data(), out.size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, out.size());
  EXPECT_EQ(0, std::memcmp(out.data(), data.data() + kG / 2, out.size()));
  EXPECT_EQ(store_->usage(), 4u * kG);
}

TEST_F(StoreTest, AGranuleIsPresentOnlyWhenAllItsBytesAreWritten) {
  open_store();
  auto c = cookie(7);
  auto data = random_bytes(2 * kG, 2);
  uint64_t eof = 10 * kG;
  ASSERT_TRUE(c->write_bytes(kG / 2, data.data() + kG / 2, kG, eof).ok());  // half of 0, half of 1
  EXPECT_EQ(c->present(0, kG), 0u);
  EXPECT_EQ(c->present(kG, kG), 0u);
  ASSERT_TRUE(c->write_bytes(0, data.data(), kG / 2, eof).ok());  // completes granule 0
  EXPECT_EQ(c->present(0, 2 * kG), kG);
  std::vector<std::byte> out(kG);
  ASSERT_TRUE(c->read_bytes(0, out.data(), kG).ok());
  EXPECT_EQ(0, std::memcmp(out.data(), data.data(), kG));
  EXPECT_FALSE(c->read_bytes(kG, out.data(), 10).ok());  // granule 1 is still partial
}

TEST_F(StoreTest, TheLastGranuleIsCompleteAtEndOfFile) {
  open_store();
  auto c = cookie(7);
  size_t size = kG + 1000;
  auto data = random_bytes(size, 3);
  ASSERT_TRUE(c->write_bytes(0, data.data(), size, size).ok());
  EXPECT_EQ(c->present(0, 2 * kG), size);
  std::vector<std::byte> out(size);
  ASSERT_TRUE(c->read_bytes(0, out.data(), size).ok());
  EXPECT_EQ(out, data);
}

TEST_F(StoreTest, ARestartKeepsTheContentMap) {
  open_store();
  auto data = random_bytes(3 * kG, 4);
  {
    auto c = cookie(7);
    ASSERT_TRUE(c->write_bytes(0, data.data(), data.size(), data.size()).ok());
  }
  store_.reset();
  open_store();
  auto c = cookie(7);
  EXPECT_EQ(c->present(0, data.size()), data.size());
  std::vector<std::byte> out(data.size());
  ASSERT_TRUE(c->read_bytes(0, out.data(), out.size()).ok());
  EXPECT_EQ(out, data);
  EXPECT_EQ(store_->usage(), 3u * kG);
  EXPECT_EQ(cookie(8)->present(0, 1), 0u);  // another file of the same server
}

TEST_F(StoreTest, HasObjectSeesOpenAndStoredObjectsWithoutCreatingAny) {
  open_store();
  EXPECT_FALSE(store_->has_object("9p://127.0.0.1:564/srv", 7));
  size_t files = 0;
  for (auto& f : std::filesystem::recursive_directory_iterator(dir_)) files += f.is_regular_file();
  EXPECT_LE(files, 2u) << "has_object created files";  // the lock and the granule only
  {
    auto c = cookie(7);
    EXPECT_TRUE(store_->has_object("9p://127.0.0.1:564/srv", 7));
    EXPECT_FALSE(store_->has_object("9p://127.0.0.1:564/srv#listings", 7));
  }
  store_.reset();
  open_store();  // a remount: the object is on disk only
  EXPECT_TRUE(store_->has_object("9p://127.0.0.1:564/srv", 7));
}

TEST_F(StoreTest, OtherCoherencyDataEmptiesTheObject) {
  open_store();
  auto data = random_bytes(kG, 5);
  {
    auto c = cookie(7, {1, 2, 3, kG});
    ASSERT_TRUE(c->write_bytes(0, data.data(), kG, kG).ok());
  }
  auto c = cookie(7, {2, 2, 3, kG});  // the server's qid.version moved on
  EXPECT_EQ(c->present(0, kG), 0u);
  EXPECT_EQ(store_->stats().cookies_emptied.load(), 1u);
  EXPECT_EQ(store_->usage(), 0u);
}

TEST_F(StoreTest, OwnWritesRecordedAsCoherentSurviveARestart) {
  open_store();
  auto data = random_bytes(kG, 6);
  {
    auto c = cookie(7, {1, 0, 0, 0});
    ASSERT_TRUE(c->write_bytes(0, data.data(), kG, kG).ok());
    ASSERT_TRUE(c->set_coherency({2, 9, 9, kG}).ok());  // what the server says after our flush
  }
  store_.reset();
  open_store();
  EXPECT_EQ(cookie(7, {2, 9, 9, kG})->present(0, kG), kG);
}

TEST_F(StoreTest, ACorruptGranuleIsDetectedDroppedAndCounted) {
  open_store();
  auto data = random_bytes(2 * kG, 7);
  auto c = cookie(7);
  ASSERT_TRUE(c->write_bytes(0, data.data(), data.size(), data.size()).ok());
  int fd = ::open(object_file(".data").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  char x = 0x5a;
  ASSERT_EQ(::pwrite(fd, &x, 1, kG + 77), 1);
  ::close(fd);
  std::vector<std::byte> out(kG);
  ASSERT_TRUE(c->read_bytes(0, out.data(), kG).ok());
  auto r = c->read_bytes(kG, out.data(), kG);
  EXPECT_EQ(r.errnum(), EIO);
  EXPECT_EQ(store_->stats().corrupt_granules.load(), 1u);
  EXPECT_EQ(c->present(0, 2 * kG), kG);  // dropped: the next read goes to the server
  // Re-fetched bytes make it present again.
  ASSERT_TRUE(c->write_bytes(kG, data.data() + kG, kG, data.size()).ok());
  ASSERT_TRUE(c->read_bytes(kG, out.data(), kG).ok());
  EXPECT_EQ(0, std::memcmp(out.data(), data.data() + kG, kG));
}

TEST_F(StoreTest, ATruncatedDataFileNeverReturnsMissingBytes) {
  // A crash that lost the data file's tail (the map had been updated by then only if the
  // data was synced, but a disk may lie): whatever is gone is a miss, never zeroes.
  open_store();
  auto data = random_bytes(4 * kG, 8);
  {
    auto c = cookie(7);
    ASSERT_TRUE(c->write_bytes(0, data.data(), data.size(), data.size()).ok());
  }
  store_.reset();
  ASSERT_EQ(::truncate(object_file(".data").c_str(), 2 * kG + 100), 0);
  open_store();
  auto c = cookie(7);
  std::vector<std::byte> out(kG);
  ASSERT_TRUE(c->read_bytes(kG, out.data(), kG).ok());
  EXPECT_EQ(0, std::memcmp(out.data(), data.data() + kG, kG));
  EXPECT_FALSE(c->read_bytes(2 * kG, out.data(), kG).ok());
  EXPECT_FALSE(c->read_bytes(3 * kG, out.data(), kG).ok());
  EXPECT_EQ(c->present(0, 4 * kG), 2u * kG);
}

TEST_F(StoreTest, TornMapRecordsAndHeadersReadAsAbsent) {
  open_store();
  auto data = random_bytes(3 * kG, 9);
  {
    auto c = cookie(7);
    ASSERT_TRUE(c->write_bytes(0, data.data(), data.size(), data.size()).ok());
  }
  store_.reset();
  std::string map = object_file(".map");
  int fd = ::open(map.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  char junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_EQ(::pwrite(fd, junk, sizeof junk, ContentMap::kHeaderSize + ContentMap::kRecordSize + 4), 8);
  open_store();
  {
    auto c = cookie(7);
    EXPECT_EQ(c->present(0, 3 * kG), kG);  // record 1 torn: granule 1 absent, so is the rest of the run
    EXPECT_EQ(c->present(2 * kG, kG), kG);
  }
  store_.reset();
  ASSERT_EQ(::pwrite(fd, junk, sizeof junk, 20), 8);  // the header
  ::close(fd);
  open_store();
  EXPECT_EQ(cookie(7)->present(0, 3 * kG), 0u);
}

TEST_F(StoreTest, DroppedRangesAreNotServedAndStaleWritesDoNotReturn) {
  open_store();
  auto c = cookie(7);
  auto data = random_bytes(4 * kG, 10);
  ASSERT_TRUE(c->write_bytes(0, data.data(), data.size(), data.size()).ok());
  c->drop_range(kG + 10, 5);
  EXPECT_EQ(c->present(0, 4 * kG), kG);
  EXPECT_EQ(c->present(2 * kG, 2 * kG), 2u * kG);
  c->drop_range(3 * kG, UINT64_MAX - 3 * kG);  // a truncate
  EXPECT_EQ(c->present(2 * kG, 2 * kG), kG);
  EXPECT_EQ(store_->usage(), 2u * kG);
}

TEST_F(StoreTest, TheSizeLimitHoldsAndClosedFilesGoFirst) {
  open_store(8 * kG);
  auto old_data = random_bytes(4 * kG, 11);
  {
    auto c = cookie(1);
    ASSERT_TRUE(c->write_bytes(0, old_data.data(), old_data.size(), old_data.size()).ok());
  }
  auto c = cookie(2);
  auto data = random_bytes(32 * kG, 12);
  for (size_t off = 0; off < data.size(); off += kG) {
    ASSERT_TRUE(c->write_bytes(off, data.data() + off, kG, data.size()).ok());
    EXPECT_LE(store_->usage(), 8u * kG);
  }
  EXPECT_EQ(store_->stats().evicted_objects.load(), 1u);
  EXPECT_GT(store_->stats().evicted_granules.load(), 0u);
  EXPECT_EQ(cookie(1)->present(0, kG), 0u);
  // The most recent granules are the ones kept.
  EXPECT_EQ(c->present(31 * kG, kG), kG);
  std::vector<std::byte> out(kG);
  ASSERT_TRUE(c->read_bytes(31 * kG, out.data(), kG).ok());
  EXPECT_EQ(0, std::memcmp(out.data(), data.data() + 31 * kG, kG));
}

TEST_F(StoreTest, AClosedStoreIsFoundByTheBackgroundScanAndEvicted) {
  open_store();
  auto data = random_bytes(6 * kG, 13);
  for (uint64_t q = 1; q <= 3; q++) {
    auto c = cookie(q);
    ASSERT_TRUE(c->write_bytes(0, data.data(), data.size(), data.size()).ok());
  }
  store_.reset();
  open_store(4 * kG);
  store_->wait_idle();
  EXPECT_EQ(store_->usage(), 18u * kG);  // learnt by the scan, not at open
  store_->evict(4 * kG);
  EXPECT_LE(store_->usage(), 4u * kG);
  EXPECT_EQ(store_->stats().evicted_objects.load(), 3u);
}

TEST_F(StoreTest, OneDirectoryOneMount) {
  open_store();
  StoreOptions o;
  o.dir = dir_;
  auto second = Store::open(o);
  EXPECT_EQ(second.errnum(), EBUSY);
  EXPECT_EQ(Store::drop_dir(dir_).errnum(), EBUSY);
}

TEST_F(StoreTest, DropDirEmptiesAnUnusedCache) {
  open_store();
  auto data = random_bytes(kG, 14);
  {
    auto c = cookie(1);
    ASSERT_TRUE(c->write_bytes(0, data.data(), kG, kG).ok());
  }
  store_.reset();
  auto before = Store::inspect(dir_);
  ASSERT_TRUE(before.ok());
  EXPECT_NE(before->find("\"objects\":1"), std::string::npos) << *before;
  ASSERT_TRUE(Store::drop_dir(dir_).ok());
  auto after = Store::inspect(dir_);
  EXPECT_NE(after->find("\"objects\":0"), std::string::npos) << *after;
  open_store();
  EXPECT_EQ(cookie(1)->present(0, kG), 0u);
}

}  // namespace
}  // namespace netfs::cache::testing
