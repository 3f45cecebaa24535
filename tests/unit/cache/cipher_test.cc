// The encrypted cache's primitives: XAES-256-GCM against the C2SP test vectors, and key
// files (made 0600, never overwritten, refused when group or others may read them).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cache/cache_key.h"
#include "cache/cipher.h"
#include "cache/xaes_256_gcm.h"

namespace netfs::cache {
namespace {

std::string hex(const uint8_t* p, size_t n) {
  std::string s;
  char b[3];
  for (size_t i = 0; i < n; i++) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

std::span<const uint8_t> bytes_of(const char* s) { return {reinterpret_cast<const uint8_t*>(s), std::strlen(s)}; }

// c2sp.org/XAES-256-GCM, "Test vectors": ciphertext || tag.
TEST(Xaes256Gcm, MatchesTheC2spTestVectors) {
  struct Vector {
    uint8_t key_byte;
    const char* aad;
    const char* want;
  } vectors[] = {
      {0x01, "", "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271"},
      {0x03, "c2sp.org/XAES-256-GCM", "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d"},
  };
  const auto* nonce = reinterpret_cast<const uint8_t*>("ABCDEFGHIJKLMNOPQRSTUVWX");
  for (const Vector& v : vectors) {
    uint8_t key[32];
    std::memset(key, v.key_byte, sizeof key);
    uint8_t text[] = "XAES-256-GCM";
    uint8_t tag[16];
    ASSERT_TRUE(xaes_256_gcm_seal(key, nonce, text, 12, bytes_of(v.aad), tag));
    EXPECT_EQ(hex(text, 12) + hex(tag, 16), v.want);
    ASSERT_TRUE(xaes_256_gcm_open(key, nonce, text, 12, bytes_of(v.aad), tag));
    EXPECT_EQ(0, std::memcmp(text, "XAES-256-GCM", 12));
  }
}

TEST(Xaes256Gcm, AnyChangedByteFailsToOpen) {
  uint8_t key[32] = {7};
  uint8_t nonce[24] = {9};
  std::vector<uint8_t> data(65536, 0x5a);
  uint8_t tag[16];
  ASSERT_TRUE(xaes_256_gcm_seal(key, nonce, data.data(), data.size(), bytes_of("where"), tag));
  auto tries = [&](auto&& change) {
    std::vector<uint8_t> d = data;
    uint8_t k[32], n[24], t[16];
    std::memcpy(k, key, 32);
    std::memcpy(n, nonce, 24);
    std::memcpy(t, tag, 16);
    std::string aad = "where";
    change(d, k, n, t, aad);
    return xaes_256_gcm_open(k, n, d.data(), d.size(), bytes_of(aad.c_str()), t);
  };
  EXPECT_TRUE(tries([](auto&, auto, auto, auto, auto&) {}));
  EXPECT_FALSE(tries([](auto& d, auto, auto, auto, auto&) { d[40000] ^= 1; }));
  EXPECT_FALSE(tries([](auto&, auto k, auto, auto, auto&) { k[31] ^= 1; }));
  EXPECT_FALSE(tries([](auto&, auto, auto n, auto, auto&) { n[0] ^= 1; }));   // the derived key's part
  EXPECT_FALSE(tries([](auto&, auto, auto n, auto, auto&) { n[23] ^= 1; }));  // the GCM nonce's part
  EXPECT_FALSE(tries([](auto&, auto, auto, auto t, auto&) { t[3] ^= 1; }));
  EXPECT_FALSE(tries([](auto&, auto, auto, auto, auto& a) { a = "elsewhere"; }));
}

TEST(Cipher, EverySealTakesAFreshNonceAndNamesHideTheirText) {
  CacheKey k;
  k.bytes[0] = 1;
  auto cp = Cipher::create(k);
  ASSERT_TRUE(cp.ok());
  const Cipher& c = **cp;
  std::vector<uint8_t> a(4096, 1), b(4096, 1);
  Seal sa, sb;
  ASSERT_TRUE(c.seal(a.data(), a.size(), {}, &sa));
  ASSERT_TRUE(c.seal(b.data(), b.size(), {}, &sb));
  EXPECT_NE(0, std::memcmp(sa.nonce, sb.nonce, sizeof sa.nonce));
  EXPECT_NE(a, b);  // the same bytes sealed twice look unrelated
  ASSERT_TRUE(c.open(a.data(), a.size(), {}, sa));
  EXPECT_EQ(a, std::vector<uint8_t>(4096, 1));
  std::string n = c.name("server 9p://127.0.0.1:564/srv");
  EXPECT_EQ(n.size(), 32u);
  EXPECT_EQ(n, c.name("server 9p://127.0.0.1:564/srv"));
  EXPECT_NE(n, c.name("server 9p://127.0.0.1:565/srv"));
  CacheKey other;
  other.bytes[0] = 2;
  EXPECT_NE(n, (*Cipher::create(other))->name("server 9p://127.0.0.1:564/srv"));
}

// Review of issue 14, finding 5: a failed subkey derivation used to leave an all-zero
// key, and sealing went on under a key anyone can compute.
TEST(Cipher, ASubkeyThatCannotBeDerivedIsAnErrorNotAZeroKey) {
  CacheKey k;
  k.bytes[0] = 1;
  Cipher::fail_hmac_for_test(true);
  auto c = Cipher::create(k);
  Cipher::fail_hmac_for_test(false);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().errnum, EIO);
  // A name that cannot be computed is random, so never another object's.
  auto good = Cipher::create(k);
  ASSERT_TRUE(good.ok());
  Cipher::fail_hmac_for_test(true);
  std::string a = (*good)->name("x"), b = (*good)->name("x");
  Cipher::fail_hmac_for_test(false);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 32u);
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/netfs-key-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(KeyFileTest, ANewKeyIs0600AndRandomAndNeverOverwritten) {
  mode_t old = ::umask(0);  // a permissive umask must not leak into the key's mode
  Status st = write_new_cache_key(dir_ + "/a");
  ::umask(old);
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_TRUE(write_new_cache_key(dir_ + "/b").ok());
  struct stat s {};
  ASSERT_EQ(::stat((dir_ + "/a").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0600u);
  EXPECT_EQ(s.st_size, 65);
  auto a = read_cache_key(dir_ + "/a");
  auto b = read_cache_key(dir_ + "/b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(0, std::memcmp(a->bytes, b->bytes, 32));
  std::ifstream in(dir_ + "/a");
  std::string before((std::istreambuf_iterator<char>(in)), {});
  Status again = write_new_cache_key(dir_ + "/a");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().errnum, EEXIST);
  std::ifstream in2(dir_ + "/a");
  EXPECT_EQ(before, std::string((std::istreambuf_iterator<char>(in2)), {}));
}

TEST_F(KeyFileTest, AKeyFileOthersOrTheGroupMayReadIsRefused) {
  std::string p = dir_ + "/k";
  ASSERT_TRUE(write_new_cache_key(p).ok());
  for (mode_t m : {0644, 0640, 0604, 0620, 0602}) {
    ASSERT_EQ(::chmod(p.c_str(), m), 0);
    auto k = read_cache_key(p);
    ASSERT_FALSE(k.ok()) << std::oct << m;
    EXPECT_EQ(k.error().errnum, EPERM);
    EXPECT_NE(k.error().message().find("chmod 600"), std::string::npos);
  }
  ASSERT_EQ(::chmod(p.c_str(), 0400), 0);
  EXPECT_TRUE(read_cache_key(p).ok());
}

// Review of issue 14, finding 7: a key file another user owns could be swapped or read
// by them (ssh refuses its keys then); a symlinked one was refused with only "cannot
// open" (ELOOP).
TEST_F(KeyFileTest, AKeyFileOfAnotherOwnerOrASymlinkIsRefusedSayingWhy) {
  std::string p = dir_ + "/k";
  ASSERT_TRUE(write_new_cache_key(p).ok());
  ASSERT_EQ(::chown(p.c_str(), ::geteuid() + 1, static_cast<gid_t>(-1)), 0) << "the tests run as root";
  auto k = read_cache_key(p);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().errnum, EPERM);
  EXPECT_NE(k.error().message().find("owned by another user"), std::string::npos) << k.error().message();
  ASSERT_EQ(::chown(p.c_str(), ::geteuid(), static_cast<gid_t>(-1)), 0);
  ASSERT_TRUE(read_cache_key(p).ok());
  ASSERT_EQ(::symlink(p.c_str(), (dir_ + "/link").c_str()), 0);
  k = read_cache_key(dir_ + "/link");
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().errnum, ELOOP);
  EXPECT_NE(k.error().message().find("symbolic link"), std::string::npos) << k.error().message();
}

TEST_F(KeyFileTest, AFileThatIsNotAKeyIsRefused) {
  std::string p = dir_ + "/k";
  {
    std::ofstream out(p);
    out << "not a key\n";
  }
  ASSERT_EQ(::chmod(p.c_str(), 0600), 0);
  auto k = read_cache_key(p);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().errnum, EINVAL);
  EXPECT_EQ(read_cache_key(dir_ + "/absent").error().errnum, ENOENT);
}

}  // namespace
}  // namespace netfs::cache
