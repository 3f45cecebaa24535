// The encrypted local cache on a real mount (-o cache_key, issue 14): every kind of
// tampering with the cache directory reads as the server's bytes and moves
// cache_auth_failures; nothing written (data, names, the URL) is in clear in the cache
// directory; the key never shows in the mount table, the daemon's arguments or its log;
// a wrong key, no key and a key file others may read give clear messages and no
// misread bytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kG = 64 * 1024;
constexpr char kMarker[] = "MARKER-c0ffee-issue14";

std::vector<char> marked(size_t n, unsigned seed) {
  auto v = random_bytes(n, seed);
  for (size_t i = 0; i + sizeof kMarker < n; i += 4096) std::memcpy(v.data() + i, kMarker, sizeof kMarker - 1);
  return v;
}

void write_file(const std::string& p, const std::vector<char>& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  ASSERT_TRUE(out.good()) << p;
}

std::string read_text(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write_text(const std::string& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

void flip(const std::string& p, uint64_t off) {
  std::string s = read_text(p);
  ASSERT_LT(off, s.size()) << p;
  s[off] ^= 0x20;
  write_text(p, s);
}

class CacheKeyMount : public MountFixture {
 protected:
  void SetUp() override {
    MountFixture::SetUp();
    keys_ = work_ + "/keys";
    fs::create_directories(keys_);
    key_ = keys_ + "/k";
    auto r = netfs({"cache", "--new-key", key_});
    ASSERT_EQ(r.status, 0) << r.output;
  }
  std::string cache_dir() const { return work_ + "/cache"; }
  std::string key_hex() const {
    std::string k = read_text(key_);
    return k.substr(0, 64);
  }
  bool mount_enc(const std::string& extra = "", std::string* out = nullptr) {
    std::string o;
    bool ok = mount("cache_dir=" + cache_dir() + ",cache_key=" + key_ + (extra.empty() ? "" : "," + extra), &o);
    if (out) *out = o;
    else EXPECT_TRUE(ok) << o;
    return ok;
  }
  void umount() {
    auto r = netfs({"umount", mnt_});
    EXPECT_EQ(r.status, 0) << r.output;
    mounted_ = r.status != 0;
  }
  // The cache's data files by size (names are keyed hashes; sizes are whole granules).
  std::map<uint64_t, std::vector<std::string>> data_files() {
    std::map<uint64_t, std::vector<std::string>> out;
    for (auto& e : fs::recursive_directory_iterator(cache_dir() + "/objects"))
      if (e.path().extension() == ".data") out[fs::file_size(e.path())].push_back(e.path().string());
    return out;
  }
  std::string data_of_size(uint64_t granules) {
    auto m = data_files();
    EXPECT_EQ(m[granules * kG].size(), 1u) << "one data file of " << granules << " granules";
    return m[granules * kG].empty() ? "" : m[granules * kG][0];
  }
  static std::string map_of(const std::string& data) { return data.substr(0, data.size() - 5) + ".map"; }
  // Reads both files through a fresh mount: the server's bytes, and counted failures.
  void expect_server_bytes_and_failures(const char* what) {
    SCOPED_TRACE(what);
    ASSERT_TRUE(mount_enc());
    EXPECT_EQ(slurp(path("a")), slurp(server_path("a")));
    EXPECT_EQ(slurp(path("b")), slurp(server_path("b")));
    EXPECT_GT(stat("cache_auth_failures"), 0u);
    EXPECT_GT(stat("download_bytes"), 0u);  // what failed came from the server
    umount();
  }

  std::string keys_, key_;
};

// 4 and 6 granules, so that each file's data file is told apart by its size.
TEST_F(CacheKeyMount, EveryTamperingReadsAsTheServersBytesAndIsCounted) {
  ASSERT_TRUE(mount_enc());
  write_file(path("a"), marked(4 * kG, 1));
  write_file(path("b"), marked(6 * kG, 2));
  umount();
  ASSERT_TRUE(mount_enc());  // warm: nothing from the server, nothing failed
  EXPECT_EQ(slurp(path("a")), slurp(server_path("a")));
  EXPECT_EQ(stat("download_bytes"), 0u);
  EXPECT_EQ(stat("cache_auth_failures"), 0u);
  umount();
  std::string a = data_of_size(4), b = data_of_size(6);
  ASSERT_FALSE(a.empty() || b.empty());
  const uint64_t h = 4096, r = 96;

  flip(a, kG + 777);
  expect_server_bytes_and_failures("a byte of a granule flipped");

  flip(map_of(a), h + 2 * r + 60);
  expect_server_bytes_and_failures("a byte of a map record flipped");

  {
    std::string d = read_text(a);
    write_text(a, d.substr(kG, kG) + d.substr(0, kG) + d.substr(2 * kG));
  }
  expect_server_bytes_and_failures("two granules of one file swapped");

  {
    std::string da = read_text(a), db = read_text(b), ma = read_text(map_of(a)), mb = read_text(map_of(b));
    write_text(a, da.substr(0, kG) + db.substr(kG, kG) + da.substr(2 * kG));
    write_text(map_of(a), ma.substr(0, h + r) + mb.substr(h + r, r) + ma.substr(h + 2 * r));
  }
  expect_server_bytes_and_failures("a granule and its record moved from another file");

  {
    std::string old_data = read_text(a), old_map = read_text(map_of(a));
    ASSERT_TRUE(mount_enc());
    {
      std::fstream f(path("a"), std::ios::in | std::ios::out | std::ios::binary);
      std::string fresh(kG, 'N');
      f.seekp(static_cast<std::streamoff>(kG));
      f.write(fresh.data(), static_cast<std::streamsize>(fresh.size()));
    }
    umount();
    std::string d = read_text(a), m = read_text(map_of(a));
    write_text(a, d.substr(0, kG) + old_data.substr(kG, kG) + d.substr(2 * kG));
    write_text(map_of(a), m.substr(0, h + r) + old_map.substr(h + r, r) + m.substr(h + 2 * r));
    ASSERT_TRUE(mount_enc());
    auto got = slurp(path("a"));
    ASSERT_EQ(got.size(), 4 * kG);
    EXPECT_EQ(std::string(got.data() + kG, kG), std::string(kG, 'N'));
    EXPECT_EQ(got, slurp(server_path("a")));
    EXPECT_GT(stat("cache_auth_failures"), 0u);
    umount();
  }

  ASSERT_EQ(::truncate(b.c_str(), static_cast<off_t>(kG + kG / 2)), 0);
  expect_server_bytes_and_failures("a data file cut short");
}

TEST_F(CacheKeyMount, AFlippedByteInACachedListingIsAMiss) {
  fs::create_directories(server_path("d"));
  for (int i = 0; i < 50; i++) write_text(server_path("d/entry-" + std::to_string(i)), "x");
  ASSERT_TRUE(mount_enc());
  auto before = data_files();
  size_t n = std::distance(fs::directory_iterator(path("d")), fs::directory_iterator());
  EXPECT_EQ(n, 50u);
  umount();
  // The listing's object is the data file that appeared (a listing is far below a granule).
  std::vector<std::string> listings;
  for (auto& [size, files] : data_files())
    for (auto& f : files)
      if (std::find(before[size].begin(), before[size].end(), f) == before[size].end()) listings.push_back(f);
  ASSERT_FALSE(listings.empty());
  for (auto& f : listings) flip(f, 100);
  ASSERT_TRUE(mount_enc());
  n = std::distance(fs::directory_iterator(path("d")), fs::directory_iterator());
  EXPECT_EQ(n, 50u);
  EXPECT_GT(stat("cache_auth_failures"), 0u);
  EXPECT_EQ(stat("cache_listing_hits"), 0u);
  EXPECT_GE(stat("cache_listing_misses"), 1u);
  umount();
}

TEST_F(CacheKeyMount, NothingInTheCacheDirectoryIsInClearAndTheKeyIsShownNowhere) {
  ASSERT_TRUE(mount_enc());
  fs::create_directories(path("secret-dir-zebra"));
  write_file(path("secret-dir-zebra/secret-name-quokka"), marked(3 * kG + 100, 3));
  write_file(path("tiny-secret-walrus"), marked(200, 4));
  // Listed, so that the listings are cached too.
  EXPECT_EQ(std::distance(fs::directory_iterator(path("secret-dir-zebra")), fs::directory_iterator()), 1);
  EXPECT_EQ(std::distance(fs::directory_iterator(mnt_), fs::directory_iterator()), 2);
  // While mounted: the mount table and the daemon's arguments name the key file at most.
  std::string mountinfo = read_text("/proc/self/mountinfo");
  EXPECT_EQ(mountinfo.find(key_hex()), std::string::npos);
  auto ps = sh("ps -eo args");
  EXPECT_EQ(ps.output.find(key_hex()), std::string::npos);
  umount();

  auto g = sh("grep -r -a -l -e " + std::string(kMarker) + " -e secret-name-quokka -e secret-dir-zebra -e " +
              "tiny-secret-walrus -e 127.0.0.1 -e " + diod_->dir() + " " + cache_dir());
  EXPECT_EQ(g.output, "") << "found in clear";
  auto s = sh("find " + cache_dir() + " -type f -exec strings -n 6 {} + | grep -e MARKER -e secret -e walrus -e "
              "127.0.0 || true");
  EXPECT_EQ(s.output, "");
  for (auto& e : fs::recursive_directory_iterator(cache_dir())) {
    struct stat st {};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, e.is_directory() ? 0700u : 0600u) << e.path();
  }
  struct stat st {};
  ASSERT_EQ(::stat(cache_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // Nor in the log, or anywhere else the test's mount wrote.
  auto k = sh("grep -r -a -l " + key_hex() + " " + work_ + " | grep -v " + keys_ + " || true");
  EXPECT_EQ(k.output, "");
  // The data is still there for whoever has the key.
  ASSERT_TRUE(mount_enc());
  EXPECT_EQ(slurp(path("secret-dir-zebra/secret-name-quokka")), marked(3 * kG + 100, 3));
  EXPECT_EQ(stat("download_bytes"), 0u);
  umount();
}

TEST_F(CacheKeyMount, WrongKeyNoKeyAndAKeyOthersMayReadGiveClearMessages) {
  ASSERT_TRUE(mount_enc());
  auto data = marked(2 * kG, 5);
  write_file(path("f"), data);
  umount();

  std::string out;
  ASSERT_EQ(::chmod(key_.c_str(), 0644), 0);
  EXPECT_FALSE(mount_enc("", &out));
  EXPECT_NE(out.find("chmod 600"), std::string::npos) << out;
  EXPECT_EQ(out.find(key_hex()), std::string::npos);
  ASSERT_EQ(::chmod(key_.c_str(), 0600), 0);

  std::string other = keys_ + "/other";
  ASSERT_EQ(netfs({"cache", "--new-key", other}).status, 0);
  auto again = netfs({"cache", "--new-key", other});
  EXPECT_NE(again.status, 0);
  EXPECT_NE(again.output.find("exists"), std::string::npos) << again.output;

  EXPECT_FALSE(mount("cache_dir=" + cache_dir() + ",cache_key=" + other + ",cache_mismatch=refuse", &out));
  EXPECT_NE(out.find("another key"), std::string::npos) << out;
  EXPECT_FALSE(mount("cache_dir=" + cache_dir() + ",cache_mismatch=refuse", &out));
  EXPECT_NE(out.find("no cache_key"), std::string::npos) << out;
  EXPECT_FALSE(mount("cache_key=" + key_, &out));
  EXPECT_NE(out.find("cache_key needs cache_dir"), std::string::npos) << out;

  // Refused: the cache is still there for its own key.
  ASSERT_TRUE(mount_enc());
  EXPECT_EQ(slurp(path("f")), data);
  EXPECT_EQ(stat("download_bytes"), 0u);
  umount();

  // Another key: dropped, read from the server, never misread.
  ASSERT_TRUE(mount("cache_dir=" + cache_dir() + ",cache_key=" + other, &out)) << out;
  EXPECT_EQ(slurp(path("f")), data);
  EXPECT_GE(stat("download_bytes"), data.size());
  EXPECT_EQ(stat("cache_auth_failures"), 0u);  // found by the key check, not granule by granule
  umount();
  EXPECT_NE(read_text(work_ + "/netfs.log").find("written with another key"), std::string::npos);

  // No key: dropped too.
  ASSERT_TRUE(mount("cache_dir=" + cache_dir(), &out)) << out;
  EXPECT_EQ(slurp(path("f")), data);
  EXPECT_GE(stat("download_bytes"), data.size());
  umount();
  EXPECT_NE(read_text(work_ + "/netfs.log").find("no cache_key was given"), std::string::npos);
}

}  // namespace
}  // namespace netfs::testing
