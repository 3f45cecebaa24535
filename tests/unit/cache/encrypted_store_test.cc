// The encrypted cache on disk (-o cache_key): what it writes hides data, names and sizes
// finer than a granule; every tampering (a flipped byte in a granule, a map record or
// header; granules swapped within a file or moved between files; an older version put
// back; a cut file) reads as absent and is counted, never as other bytes; a directory of
// another key, of none, or a plain one is dropped or refused at open.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include "cache/cache_key.h"
#include "cache/content_map.h"
#include "unit/cache/store_fixture.h"

namespace netfs::cache::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kServer = "9p://127.0.0.1:564/srv";
constexpr char kMarker[] = "MARKER-7f3a-secret-payload";

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void spit(const std::string& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}
void flip(const std::string& p, uint64_t off) {
  int fd = ::open(p.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << p;
  char b;
  ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(off)), 1);
  b ^= 0x20;
  ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(off)), 1);
  ::close(fd);
}

// Data made of the marker, so that any plaintext on disk would show it.
std::vector<std::byte> marked(size_t n, char salt) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<std::byte>(i % 64 == 63 ? salt : kMarker[i % (sizeof kMarker - 1)]);
  return v;
}

class EncryptedStoreTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    key_file_ = dir_ + ".key";
    ASSERT_TRUE(write_new_cache_key(key_file_).ok());
  }
  void TearDown() override {
    StoreTest::TearDown();
    ::unlink(key_file_.c_str());
    ::unlink((key_file_ + "2").c_str());
  }
  std::shared_ptr<StoreCookie> cookie_of(uint64_t qid, Coherency c = {1, 2, 3, 0}) {
    auto r = store_->cookie(kServer, qid, c);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : nullptr;
  }
  // The object file of a qid (the names are keyed hashes: found through a cookie's key).
  std::string file_of(uint64_t qid, const char* suffix) {
    auto c = cookie_of(qid);
    return dir_ + "/objects/" + c->key() + suffix;
  }
  uint64_t auth_failures() { return store_->stats().auth_failures.load(); }
  // Reads n bytes at pos; they must be `want` or the read must fail (a miss).
  bool reads_as(StoreCookie& c, uint64_t pos, const std::vector<std::byte>& want) {
    std::vector<std::byte> out(want.size());
    auto r = c.read_bytes(pos, out.data(), out.size());
    if (!r.ok()) return false;
    EXPECT_EQ(out, want) << "a read returned other bytes than were written";
    return *r == want.size() && out == want;
  }
  std::vector<std::byte> slice(const std::vector<std::byte>& v, size_t off, size_t n) {
    return {v.begin() + static_cast<ptrdiff_t>(off), v.begin() + static_cast<ptrdiff_t>(off + n)};
  }
  // Writes `data` as qid's whole content and closes the cookie.
  void put_file(uint64_t qid, const std::vector<std::byte>& data, Coherency c = {1, 2, 3, 0}) {
    auto k = cookie_of(qid, c);
    ASSERT_TRUE(k->write_bytes(0, data.data(), data.size(), data.size()).ok());
  }
};

TEST_F(EncryptedStoreTest, WhatIsWrittenReadsBackAfterARestart) {
  open_store();
  auto data = marked(3 * kG + 1000, 'a');
  put_file(7, data);
  store_.reset();
  open_store();
  auto c = cookie_of(7);
  EXPECT_EQ(c->present(0, data.size()), data.size());
  EXPECT_TRUE(reads_as(*c, 0, data));
  EXPECT_TRUE(reads_as(*c, kG + 17, slice(data, kG + 17, 2 * kG)));
  EXPECT_EQ(auth_failures(), 0u);
}

TEST_F(EncryptedStoreTest, NothingOnDiskShowsTheDataTheNamesOrSizesFinerThanAGranule) {
  open_store();
  auto data = marked(2 * kG + 1234, 'b');
  put_file(0x1234abcd, data);
  auto small = marked(100, 'c');
  put_file(0x5678, small);
  store_.reset();
  std::string hexqid = "1234abcd";
  for (auto& e : fs::recursive_directory_iterator(dir_)) {
    std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(hexqid), std::string::npos) << e.path();
    EXPECT_NE(name, "server") << "the URL in clear";
    struct stat st {};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    if (e.is_directory()) {
      EXPECT_EQ(st.st_mode & 0777, 0700u) << e.path();
      continue;
    }
    EXPECT_EQ(st.st_mode & 0777, 0600u) << e.path();
    std::string body = slurp(e.path());
    EXPECT_EQ(body.find("MARKER"), std::string::npos) << e.path();
    EXPECT_EQ(body.find("127.0.0.1"), std::string::npos) << e.path();
    EXPECT_EQ(body.find("srv"), std::string::npos) << e.path();
    if (e.path().extension() == ".data") {
      EXPECT_EQ(st.st_size % kG, 0) << e.path() << " shows the file's size";
    }
  }
  struct stat d {};
  ASSERT_EQ(::stat(dir_.c_str(), &d), 0);
  EXPECT_EQ(d.st_mode & 0777, 0700u);
}

TEST_F(EncryptedStoreTest, AFlippedByteInAGranuleIsAMissCountedOnce) {
  open_store();
  auto data = marked(3 * kG, 'd');
  put_file(7, data);
  std::string f = file_of(7, ".data");
  flip(f, kG + 500);
  auto c = cookie_of(7);
  EXPECT_FALSE(reads_as(*c, kG, slice(data, kG, 100)));
  EXPECT_EQ(auth_failures(), 1u);
  EXPECT_EQ(c->present(kG, kG), 0u);  // dropped: the next read goes to the server
  EXPECT_TRUE(reads_as(*c, 0, slice(data, 0, kG)));
  EXPECT_TRUE(reads_as(*c, 2 * kG, slice(data, 2 * kG, kG)));
  EXPECT_EQ(auth_failures(), 1u);
}

TEST_F(EncryptedStoreTest, AFlippedByteInAMapRecordDropsThatGranule) {
  open_store();
  auto data = marked(3 * kG, 'e');
  put_file(7, data);
  std::string m = file_of(7, ".map");
  store_.reset();
  flip(m, ContentMap::kHeaderSize + ContentMap::kSealedRecordSize + 50);  // record 1, sealed part
  open_store();
  auto c = cookie_of(7);
  EXPECT_EQ(auth_failures(), 1u);
  EXPECT_EQ(c->present(kG, kG), 0u);
  EXPECT_FALSE(reads_as(*c, kG, slice(data, kG, 10)));
  EXPECT_TRUE(reads_as(*c, 0, slice(data, 0, kG)));
  EXPECT_TRUE(reads_as(*c, 2 * kG, slice(data, 2 * kG, kG)));
}

TEST_F(EncryptedStoreTest, AFlippedByteInAMapHeaderEmptiesTheObject) {
  open_store();
  auto data = marked(2 * kG, 'f');
  put_file(7, data);
  std::string m = file_of(7, ".map");
  store_.reset();
  flip(m, 60);  // in the sealed coherency data
  open_store();
  auto c = cookie_of(7);
  EXPECT_EQ(auth_failures(), 1u);
  EXPECT_EQ(c->present(0, 2 * kG), 0u);
  EXPECT_FALSE(reads_as(*c, 0, slice(data, 0, 10)));
}

TEST_F(EncryptedStoreTest, TwoGranulesOfOneFileSwappedFailBoth) {
  open_store();
  auto data = marked(3 * kG, 'g');
  put_file(7, data);
  std::string f = file_of(7, ".data"), m = file_of(7, ".map");
  store_.reset();
  // The data alone swapped, then data and records swapped together.
  std::string d = slurp(f);
  std::string swapped = d.substr(kG, kG) + d.substr(0, kG) + d.substr(2 * kG);
  spit(f, swapped);
  open_store();
  {
    auto c = cookie_of(7);
    EXPECT_FALSE(reads_as(*c, 0, slice(data, 0, 10)));
    EXPECT_FALSE(reads_as(*c, kG, slice(data, kG, 10)));
    EXPECT_TRUE(reads_as(*c, 2 * kG, slice(data, 2 * kG, 10)));
  }
  EXPECT_EQ(auth_failures(), 2u);
  store_.reset();
  open_store();
  put_file(7, data);
  store_.reset();
  d = slurp(f);
  std::string map = slurp(m);
  const size_t h = ContentMap::kHeaderSize, r = ContentMap::kSealedRecordSize;
  spit(f, d.substr(kG, kG) + d.substr(0, kG) + d.substr(2 * kG));
  spit(m, map.substr(0, h) + map.substr(h + r, r) + map.substr(h, r) + map.substr(h + 2 * r));
  open_store();
  auto c = cookie_of(7);
  EXPECT_EQ(auth_failures(), 2u);  // both records name another index
  EXPECT_FALSE(reads_as(*c, 0, slice(data, 0, 10)));
  EXPECT_FALSE(reads_as(*c, kG, slice(data, kG, 10)));
  EXPECT_TRUE(reads_as(*c, 2 * kG, slice(data, 2 * kG, 10)));
}

TEST_F(EncryptedStoreTest, GranulesMovedToAnotherFileFail) {
  open_store();
  auto a = marked(2 * kG, 'h'), b = marked(2 * kG, 'i');
  put_file(7, a);
  put_file(8, b);
  std::string fa = file_of(7, ".data"), ma = file_of(7, ".map");
  std::string fb = file_of(8, ".data"), mb = file_of(8, ".map");
  store_.reset();
  // Granule 1 of file 8 (its bytes and its record) into file 7.
  std::string da = slurp(fa), db = slurp(fb), mapa = slurp(ma), mapb = slurp(mb);
  const size_t h = ContentMap::kHeaderSize, r = ContentMap::kSealedRecordSize;
  spit(fa, da.substr(0, kG) + db.substr(kG, kG));
  spit(ma, mapa.substr(0, h + r) + mapb.substr(h + r, r));
  open_store();
  {
    auto c = cookie_of(7);
    EXPECT_EQ(auth_failures(), 1u);
    EXPECT_TRUE(reads_as(*c, 0, slice(a, 0, kG)));
    EXPECT_FALSE(reads_as(*c, kG, slice(a, kG, 10)));
  }
  // The whole object of file 8 put in place of file 7's.
  store_.reset();
  spit(fa, db);
  spit(ma, mapb);
  open_store();
  auto c = cookie_of(7);
  EXPECT_EQ(auth_failures(), 1u);  // its header names file 8 (a new Store counts from 0)
  EXPECT_EQ(c->present(0, 2 * kG), 0u);
  EXPECT_FALSE(reads_as(*c, 0, slice(b, 0, 10)));
}

TEST_F(EncryptedStoreTest, AnOlderVersionOfAGranulePutBackFails) {
  open_store();
  Coherency v1{1, 2, 3, 0}, v2{2, 5, 6, 0};
  auto old = marked(2 * kG, 'j');
  put_file(7, old, v1);
  std::string f = file_of(7, ".data"), m = file_of(7, ".map");
  store_.reset();
  std::string old_data = slurp(f), old_map = slurp(m);
  // Our own write over granule 1, written back, and the server's new coherency recorded.
  open_store();
  auto now = marked(kG, 'k');
  {
    auto c = cookie_of(7, v1);
    c->drop_range(kG, kG);
    ASSERT_TRUE(c->write_bytes(kG, now.data(), kG, 2 * kG).ok());
    ASSERT_TRUE(c->set_coherency(v2).ok());
  }
  store_.reset();
  const size_t h = ContentMap::kHeaderSize, r = ContentMap::kSealedRecordSize;
  std::string d = slurp(f), map = slurp(m);
  spit(f, d.substr(0, kG) + old_data.substr(kG, kG));
  spit(m, map.substr(0, h + r) + old_map.substr(h + r, r));
  open_store();
  {
    auto c = cookie_of(7, v2);
    EXPECT_TRUE(reads_as(*c, 0, slice(old, 0, kG)));  // untouched by the write: kept
    EXPECT_FALSE(reads_as(*c, kG, slice(now, 0, 10)));
    EXPECT_EQ(auth_failures(), 1u);
  }
  // The whole older object put back: its coherency is v1's, so it is emptied at open.
  store_.reset();
  spit(f, old_data);
  spit(m, old_map);
  open_store();
  auto c = cookie_of(7, v2);
  EXPECT_EQ(c->present(0, 2 * kG), 0u);
}

TEST_F(EncryptedStoreTest, ACutDataFileIsAMiss) {
  open_store();
  auto data = marked(3 * kG, 'l');
  put_file(7, data);
  std::string f = file_of(7, ".data");
  ASSERT_EQ(::truncate(f.c_str(), static_cast<off_t>(kG + kG / 2)), 0);
  auto c = cookie_of(7);
  EXPECT_TRUE(reads_as(*c, 0, slice(data, 0, kG)));
  EXPECT_FALSE(reads_as(*c, kG, slice(data, kG, 10)));
  EXPECT_FALSE(reads_as(*c, 2 * kG, slice(data, 2 * kG, 10)));
  EXPECT_EQ(auth_failures(), 2u);
}

TEST_F(EncryptedStoreTest, AGranuleWrittenInPiecesIsNeverInClearOnDisk) {
  open_store();
  auto data = marked(kG, 'm');
  auto c = cookie_of(7);
  ASSERT_TRUE(c->write_bytes(0, data.data(), kG / 2, 4 * kG).ok());
  EXPECT_EQ(slurp(file_of(7, ".data")).find("MARKER"), std::string::npos);
  EXPECT_EQ(c->present(0, kG), 0u);
  ASSERT_TRUE(c->write_bytes(kG / 2, data.data() + kG / 2, kG / 2, 4 * kG).ok());
  EXPECT_EQ(c->present(0, kG), kG);
  EXPECT_TRUE(reads_as(*c, 0, data));
  EXPECT_EQ(slurp(file_of(7, ".data")).find("MARKER"), std::string::npos);
}

TEST_F(EncryptedStoreTest, ACacheOfAnotherKeyIsDroppedOrRefused) {
  open_store();
  put_file(7, marked(kG, 'n'));
  store_.reset();
  std::string first = key_file_;
  key_file_ = first + "2";
  ASSERT_TRUE(write_new_cache_key(key_file_).ok());
  refuse_mismatch_ = true;
  auto refused = try_open_store();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().errnum, EKEYREJECTED);
  EXPECT_NE(object_file(".map"), "");  // refused: left as it was
  refuse_mismatch_ = false;
  open_store();
  EXPECT_EQ(object_file(".map"), "");  // dropped
  auto c = cookie_of(7);
  EXPECT_EQ(c->present(0, kG), 0u);
  c.reset();
  store_.reset();
  key_file_ = first;  // the first key is now the other one: dropped again
  open_store();
  EXPECT_EQ(cookie_of(7)->present(0, kG), 0u);
  EXPECT_EQ(auth_failures(), 0u);  // found by the key check, not granule by granule
}

TEST_F(EncryptedStoreTest, AnEncryptedCacheOpenedWithoutAKeyIsDroppedOrRefused) {
  open_store();
  put_file(7, marked(kG, 'o'));
  store_.reset();
  std::string key = key_file_;
  key_file_.clear();
  refuse_mismatch_ = true;
  auto refused = try_open_store();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().errnum, EKEYREJECTED);
  refuse_mismatch_ = false;
  open_store();
  EXPECT_EQ(object_file(".map"), "");
  EXPECT_FALSE(fs::exists(dir_ + "/keycheck"));
  auto data = marked(kG, 'p');
  auto c = *store_->cookie(kServer, 7, {1, 2, 3, 0});
  ASSERT_TRUE(c->write_bytes(0, data.data(), kG, kG).ok());
  EXPECT_NE(slurp(object_file(".data")).find("MARKER"), std::string::npos);  // plain now, as asked
}

TEST_F(EncryptedStoreTest, APlainCacheOpenedWithAKeyIsDroppedNotMixed) {
  std::string key = key_file_;
  key_file_.clear();
  open_store();
  auto data = marked(kG, 'q');
  put_file(7, data);
  store_.reset();
  key_file_ = key;
  open_store();
  EXPECT_EQ(object_file(".map"), "");
  EXPECT_FALSE(fs::exists(dir_ + "/objects/" + std::string(16, '0')));
  EXPECT_EQ(cookie_of(7)->present(0, kG), 0u);
  for (auto& e : fs::recursive_directory_iterator(dir_))
    if (e.is_regular_file()) {
      EXPECT_EQ(slurp(e.path()).find("MARKER"), std::string::npos) << e.path();
    }
}

// Review of issue 14, finding 5: the mount's Store::open fails (and so the mount) when
// the subkeys cannot be derived, instead of sealing under an all-zero key.
TEST_F(EncryptedStoreTest, ASubkeyThatCannotBeDerivedRefusesTheStore) {
  Cipher::fail_hmac_for_test(true);
  auto s = try_open_store();
  Cipher::fail_hmac_for_test(false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().errnum, EIO);
  EXPECT_FALSE(fs::exists(dir_ + "/keycheck"));
}

// Review of issue 14, finding 6: DIR/granule is written by whoever can write the
// directory. 2^30 meant a 1 GiB buffer per granule, 0 a division by zero (SIGFPE) in
// `netfs cache DIR`; now out of bounds is ignored (the default is used and written back).
TEST_F(EncryptedStoreTest, AGranuleFileOutOfBoundsNeitherCrashesNorAllocates) {
  open_store();
  put_file(1, marked(2 * kG, 'a'));
  store_.reset();
  for (const char* g : {"1073741824\n", "0\n", "4294967296\n", "2048\n", "junk"}) {
    spit(dir_ + "/granule", g);
    auto insp = Store::inspect(dir_);
    ASSERT_TRUE(insp.ok()) << g;
    EXPECT_NE(insp->find("\"granule\":65536"), std::string::npos) << g << *insp;
    auto s = try_open_store();
    ASSERT_TRUE(s.ok()) << g;
    EXPECT_EQ((*s)->granule(), kG) << g;
    EXPECT_EQ(slurp(dir_ + "/granule"), "65536\n");
  }
}

// The granule size is bound into the key check: a valid but different DIR/granule makes
// the directory's content dropped at open, not parsed with the wrong size.
TEST_F(EncryptedStoreTest, AChangedGranuleFileDropsTheContent) {
  open_store();
  put_file(1, marked(2 * kG, 'a'));
  store_.reset();
  spit(dir_ + "/granule", "131072\n");
  auto s = try_open_store();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->granule(), 131072u);
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(dir_ + "/objects"))
    if (e.is_regular_file()) files++;
  EXPECT_EQ(files, 0u);
}

// Review of issue 14, finding 2: every partial granule held a whole granule of memory
// (4000 4 KiB writes into separate granules: 256 MB of RAM and of charged usage for
// 16 MB of data). The store now caps gather memory; past the cap a piece is not cached.
TEST_F(EncryptedStoreTest, GatheredPiecesStayUnderTheStoresCap) {
  gather_limit_ = 16 * kG;
  open_store();
  auto c = cookie_of(1);
  const uint64_t eof = 100 * kG;
  std::vector<std::byte> piece(4096, std::byte{7});
  for (uint64_t i = 0; i < 100; i++) ASSERT_TRUE(c->write_bytes(i * kG, piece.data(), piece.size(), eof).ok());
  EXPECT_EQ(store_->gather_bytes().load(), 16 * kG);
  EXPECT_EQ(store_->stats().gather_refused.load(), 84u);
  EXPECT_LE(store_->usage(), 16 * kG);
  // Completing a gathered granule gives its memory back; a whole granule needs none.
  std::vector<std::byte> rest(kG - 4096, std::byte{7});
  ASSERT_TRUE(c->write_bytes(4096, rest.data(), rest.size(), eof).ok());
  EXPECT_EQ(store_->gather_bytes().load(), 15 * kG);
  EXPECT_TRUE(reads_as(*c, 0, std::vector<std::byte>(kG, std::byte{7})));
  std::vector<std::byte> whole(kG, std::byte{9});
  ASSERT_TRUE(c->write_bytes(50 * kG, whole.data(), whole.size(), eof).ok());  // its piece was refused
  EXPECT_TRUE(reads_as(*c, 50 * kG, whole));
  EXPECT_EQ(store_->gather_bytes().load(), 15 * kG);
  c.reset();  // the cookie closes: its partial granules go, and their memory
  store_->wait_idle();
  EXPECT_EQ(store_->gather_bytes().load(), 0u);
}

TEST_F(EncryptedStoreTest, AKeyFileOthersMayReadIsRefusedAtOpen) {
  ASSERT_EQ(::chmod(key_file_.c_str(), 0644), 0);
  auto s = try_open_store();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().errnum, EPERM);
  EXPECT_NE(s.error().message().find("chmod 600"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ + "/objects"));  // refused before touching the directory
}

TEST_F(EncryptedStoreTest, ASetCoherencyAfterADropKeepsTheOtherGranules) {
  open_store();
  auto data = marked(4 * kG, 'r');
  put_file(7, data);
  {
    auto c = cookie_of(7);
    c->drop_range(2 * kG, 10);
    ASSERT_TRUE(c->set_coherency({9, 9, 9, 0}).ok());
  }
  store_.reset();
  open_store();
  auto c = cookie_of(7, {9, 9, 9, 0});
  EXPECT_TRUE(reads_as(*c, 0, slice(data, 0, 2 * kG)));
  EXPECT_EQ(c->present(2 * kG, kG), 0u);
  EXPECT_TRUE(reads_as(*c, 3 * kG, slice(data, 3 * kG, kG)));
  EXPECT_EQ(auth_failures(), 0u);
  EXPECT_FALSE(fs::exists(file_of(7, ".map.new")));
}

TEST_F(EncryptedStoreTest, NetfsCacheOnTheDirectorySaysEncryptedAndCountsItsUsageWithoutTheKey) {
  open_store();
  put_file(7, marked(3 * kG + 5, 's'));
  EXPECT_NE(store_->describe_json().find("\"encrypted\":true"), std::string::npos);
  store_.reset();
  auto info = Store::inspect(dir_);
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->find("\"encrypted\":true"), std::string::npos) << *info;
  EXPECT_NE(info->find("\"usage_bytes\":" + std::to_string(4 * kG)), std::string::npos) << *info;
  EXPECT_NE(info->find("\"objects\":1"), std::string::npos) << *info;
}

// Granules written whole and in halves (gathered), dropped, evicted and read all at once:
// a read returns the written bytes or fails, and nothing is taken for forged.
TEST_F(EncryptedStoreTest, ConcurrentWritesDropsEvictionAndReadsNeverReturnOtherBytes) {
  open_store();
  constexpr uint64_t kN = 8;
  auto data = marked(kN * kG, 'u');
  auto c = cookie_of(7);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (uint64_t round = 0; round < 8; round++) {
      for (uint64_t g = 0; g < kN; g++) {
        const std::byte* p = data.data() + g * kG;
        if ((g + round) % 2) {
          (void)c->write_bytes(g * kG, p, kG, data.size());
        } else {
          (void)c->write_bytes(g * kG, p, kG / 2, data.size());
          (void)c->write_bytes(g * kG + kG / 2, p + kG / 2, kG / 2, data.size());
        }
      }
      c->drop_range((round % kN) * kG, kG);
    }
    stop = true;
  });
  std::atomic<uint64_t> wrong{0};
  auto reader = [&] {
    std::vector<std::byte> out(kG);
    while (!stop)
      for (uint64_t g = 0; g < kN; g++) {
        auto r = c->read_bytes(g * kG, out.data(), kG);
        if (r.ok() && (*r != kG || std::memcmp(out.data(), data.data() + g * kG, kG) != 0)) wrong++;
      }
  };
  std::thread r1(reader), r2(reader);
  std::thread evictor([&] {
    while (!stop) store_->evict(kN / 2 * kG);
  });
  writer.join();
  r1.join();
  r2.join();
  evictor.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(auth_failures(), 0u);
  // And what is there after all that reads back.
  ASSERT_TRUE(c->write_bytes(0, data.data(), data.size(), data.size()).ok());
  EXPECT_TRUE(reads_as(*c, 0, data));
}

TEST_F(EncryptedStoreTest, EvictingAnObjectRemovesAMapRewriteACrashLeftBehind) {
  open_store();
  put_file(7, marked(kG, 't'));
  std::string m = file_of(7, ".map");  // the cookie is closed again on return
  spit(m + ".new", "a rewrite cut short");
  store_->evict(0);
  EXPECT_FALSE(fs::exists(m));
  EXPECT_FALSE(fs::exists(m + ".new"));
}

// Plain caches too: the directory is 0700 and every file in it 0600 (the `server` file
// naming the remote was 0644).
TEST_F(StoreTest, EveryFileOfAPlainCacheIs0600) {
  mode_t old = ::umask(022);
  open_store();
  auto data = random_bytes(kG, 9);
  auto c = cookie(7);
  ASSERT_TRUE(c->write_bytes(0, data.data(), kG, kG).ok());
  c.reset();
  store_.reset();
  ::umask(old);
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(dir_)) {
    struct stat st {};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, e.is_directory() ? 0700u : 0600u) << e.path();
    files += !e.is_directory();
  }
  EXPECT_GE(files, 5u);  // lock, granule, server, data, map
}

}  // namespace
}  // namespace netfs::cache::testing
