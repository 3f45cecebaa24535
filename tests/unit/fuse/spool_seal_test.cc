// The spool of an encrypted cache (src/fuse/spool.h with a Cipher, review of issue 14,
// finding 1): nothing saved shows in clear on disk, the key reads it back, no key or
// another key reads nothing and removes nothing, and a changed or swapped block fails.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "cache/cache_key.h"
#include "cache/cipher.h"
#include "fuse/spool.h"

namespace netfs::fuse {
namespace {

namespace fs = std::filesystem;

constexpr char kUrl[] = "9p://files.example:564/secret-export";
constexpr char kPath[] = "/plans/merger-notes.txt";
constexpr char kMarker[] = "MARKER-spool-1f2e";

std::unique_ptr<cache::Cipher> cipher_of(uint8_t fill) {
  cache::CacheKey k;
  for (size_t i = 0; i < sizeof k.bytes; i++) k.bytes[i] = static_cast<uint8_t>(fill + i);
  return std::move(cache::Cipher::create(k).value());
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class SpoolSeal : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/netfs-spool-seal-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    // Three chunks and a bit, the marker in each.
    data_.resize(2 * kSpoolChunk + 5000);
    for (size_t i = 0; i < data_.size(); i++) data_[i] = std::byte(static_cast<uint8_t>(i * 7 + i / 251));
    for (size_t at = 0; at + sizeof kMarker < data_.size(); at += 4096)
      std::memcpy(data_.data() + at, kMarker, sizeof kMarker - 1);
  }
  void TearDown() override { fs::remove_all(root_); }
  SpoolEntry save(const cache::Cipher* c, const std::string& path = kPath) {
    Spool sp(root_, c);
    SpoolEntry e;
    e.export_url = kUrl;
    e.path = path;
    e.size = data_.size() + 10;
    e.ranges = {{10, data_.size()}};
    EXPECT_TRUE(sp.save(e, data_).ok());
    return e;
  }
  // Everything on disk below root_, names and contents.
  std::string disk() {
    std::string all;
    for (auto& f : fs::recursive_directory_iterator(root_))
      all += f.path().lexically_relative(root_).string() + "\n" + slurp(f.path()) + "\n";
    return all;
  }
  std::string root_;
  std::vector<std::byte> data_;
};

TEST_F(SpoolSeal, NothingInClearAndTheKeyReadsItBack) {
  auto c = cipher_of(1);
  SpoolEntry saved = save(c.get());
  EXPECT_TRUE(saved.sealed);
  std::string all = disk();
  EXPECT_EQ(all.find(kMarker), std::string::npos);
  EXPECT_EQ(all.find("merger"), std::string::npos);
  EXPECT_EQ(all.find("files.example"), std::string::npos);
  EXPECT_EQ(all.find("secret-export"), std::string::npos);
  EXPECT_EQ(all.find("netfs-spool"), std::string::npos);  // not even the plain manifest's magic
  // The name shows neither the time nor the process.
  EXPECT_EQ(saved.id.find('-'), std::string::npos) << saved.id;

  Spool sp(root_, c.get());
  auto l = sp.list(kUrl);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 1u);
  const SpoolEntry& e = l->front();
  EXPECT_TRUE(e.sealed);
  EXPECT_EQ(e.path, kPath);
  EXPECT_EQ(e.ranges, saved.ranges);
  // Whole, and pieces across chunk boundaries.
  std::vector<std::byte> back(data_.size());
  ASSERT_TRUE(sp.read(e, 0, back.data(), back.size()).ok());
  EXPECT_EQ(back, data_);
  for (uint64_t at : {uint64_t{1}, kSpoolChunk - 3, 2 * kSpoolChunk - 1, data_.size() - 7}) {
    std::vector<std::byte> piece(std::min<uint64_t>(7000, data_.size() - at));
    ASSERT_TRUE(sp.read(e, at, piece.data(), piece.size()).ok()) << at;
    EXPECT_TRUE(std::equal(piece.begin(), piece.end(), data_.begin() + static_cast<ptrdiff_t>(at))) << at;
  }
  std::byte one;
  EXPECT_EQ(sp.read(e, data_.size(), &one, 1).error().errnum, EINVAL);
  ASSERT_TRUE(sp.remove(e).ok());
  EXPECT_TRUE(Spool(root_, c.get()).list()->empty());
}

TEST_F(SpoolSeal, WithoutTheKeyOrWithAnotherEntriesAreCountedAndKept) {
  auto c = cipher_of(1);
  save(c.get());
  size_t unreadable = 0;
  auto l = Spool(root_).list("", &unreadable);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->empty());
  EXPECT_EQ(unreadable, 1u);
  auto other = cipher_of(2);
  l = Spool(root_, other.get()).list(kUrl, &unreadable);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->empty());
  EXPECT_EQ(unreadable, 1u);
  // Still there for the right key.
  EXPECT_EQ(Spool(root_, c.get()).list(kUrl)->size(), 1u);
  // A plain entry (saved before the cache had a key) is still read under a key.
  save(nullptr, "/plain");
  l = Spool(root_, c.get()).list(kUrl, &unreadable);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->size(), 2u);
  EXPECT_EQ(unreadable, 0u);
}

TEST_F(SpoolSeal, AChangedOrSwappedBlockDoesNotAuthenticate) {
  auto c = cipher_of(1);
  SpoolEntry a = save(c.get(), "/a");
  SpoolEntry b = save(c.get(), "/b");
  Spool sp(root_, c.get());
  auto l = sp.list();
  ASSERT_EQ(l->size(), 2u);
  for (auto& e : *l) (e.path == "/a" ? a : b) = e;

  // One byte of the second chunk's ciphertext: that chunk fails, the first still reads.
  const std::string da = root_ + "/" + a.id + ".data";
  std::string bytes = slurp(da);
  bytes[40 + kSpoolChunk + 40 + 100] ^= 1;
  std::ofstream(da, std::ios::binary | std::ios::trunc) << bytes;
  std::vector<std::byte> buf(1000);
  EXPECT_TRUE(sp.read(a, 0, buf.data(), buf.size()).ok());
  EXPECT_EQ(sp.read(a, kSpoolChunk + 50, buf.data(), buf.size()).error().errnum, EBADMSG);

  // b's data under a's name: nothing of it opens as a's.
  fs::copy_file(root_ + "/" + b.id + ".data", da, fs::copy_options::overwrite_existing);
  EXPECT_EQ(sp.read(a, 0, buf.data(), buf.size()).error().errnum, EBADMSG);

  // A manifest with one byte changed is unreadable, not misread.
  const std::string mb = root_ + "/" + b.id + ".manifest";
  bytes = slurp(mb);
  bytes[bytes.size() - 3] ^= 1;
  std::ofstream(mb, std::ios::binary | std::ios::trunc) << bytes;
  size_t unreadable = 0;
  l = sp.list("", &unreadable);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->size(), 1u);
  EXPECT_EQ(unreadable, 1u);
}

}  // namespace
}  // namespace netfs::fuse
