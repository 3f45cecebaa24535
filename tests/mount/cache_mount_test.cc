// The local persistent cache on a real mount (-o cache_dir): what we wrote is read back
// from the disk after a remount with no read from the server; a file changed on the
// server is read anew; `netfs cache` reports and drops; a cache directory serves one
// mount at a time.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <regex>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

std::vector<char> random_bytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<char> v(n);
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t x = rng();
    std::memcpy(v.data() + i, &x, 8);
  }
  return v;
}

void write_file(const std::string& p, const std::vector<char>& data) {
  int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, std::min<size_t>(data.size() - done, 1 << 20));
    ASSERT_GT(n, 0) << strerror(errno);
    done += static_cast<size_t>(n);
  }
  ASSERT_EQ(::close(fd), 0) << strerror(errno);
}

uint64_t json_value(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + "\":([0-9]+)"))) return UINT64_MAX;
  return std::strtoull(m[1].str().c_str(), nullptr, 10);
}

class CacheMount : public MountFixture {
 protected:
  std::string cache_dir() const { return work_ + "/cache"; }
  bool mount_cached(const std::string& extra = "") {
    std::string out;
    bool ok = mount("cache_dir=" + cache_dir() + (extra.empty() ? "" : "," + extra), &out);
    EXPECT_TRUE(ok) << out;
    return ok;
  }
  void umount() {
    auto r = netfs({"umount", mnt_});
    EXPECT_EQ(r.status, 0) << r.output;
    mounted_ = r.status != 0;
  }
  void sigkill_during_cache_filling(const std::string& extra);
};

TEST_F(CacheMount, RemountReadsWhatWeWroteFromTheCacheAlone) {
  ASSERT_TRUE(mount_cached());
  auto data = random_bytes(64 << 20, 1);
  write_file(path("big"), data);
  EXPECT_GE(stat("cache_written_bytes"), data.size());
  umount();
  ASSERT_TRUE(mount_cached());
  EXPECT_EQ(slurp(path("big")), data);
  EXPECT_EQ(stat("download_bytes"), 0u);
  EXPECT_GE(stat("cache_read_bytes"), data.size());
  EXPECT_EQ(stat("cache_corrupt_granules"), 0u);
}

TEST_F(CacheMount, AFileChangedOnTheServerIsReadAnew) {
  ASSERT_TRUE(mount_cached());
  auto a = random_bytes(3 << 20, 2);
  write_file(path("f"), a);
  EXPECT_EQ(slurp(path("f")), a);
  // Changed behind the mount's back, same size: the open sees the new version.
  auto b = random_bytes(3 << 20, 3);
  {
    std::ofstream out(server_path("f"), std::ios::binary | std::ios::trunc);
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
  }
  EXPECT_EQ(slurp(path("f")), b);
  umount();
  // And across a remount: changed while unmounted.
  auto c = random_bytes(2 << 20, 4);
  {
    std::ofstream out(server_path("f"), std::ios::binary | std::ios::trunc);
    out.write(c.data(), static_cast<std::streamsize>(c.size()));
  }
  ASSERT_TRUE(mount_cached());
  EXPECT_EQ(slurp(path("f")), c);
  EXPECT_GT(stat("download_bytes"), 0u);
}

TEST_F(CacheMount, OurOwnSmallWritesOverCachedDataAreNotServedStale) {
  ASSERT_TRUE(mount_cached());
  auto a = random_bytes(1 << 20, 5);
  write_file(path("f"), a);
  umount();
  ASSERT_TRUE(mount_cached());
  {
    int fd = ::open(path("f").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const char patch[] = "0123456789";
    ASSERT_EQ(::pwrite(fd, patch, 10, 70000), 10);
    ASSERT_EQ(::close(fd), 0);
    std::memcpy(a.data() + 70000, patch, 10);
  }
  umount();
  ASSERT_TRUE(mount_cached());
  EXPECT_EQ(slurp(path("f")), a);
  EXPECT_EQ(slurp(server_path("f")), a);
}

TEST_F(CacheMount, NetfsCacheReportsAndDrops) {
  ASSERT_TRUE(mount_cached());
  write_file(path("f"), random_bytes(4 << 20, 6));
  auto r = netfs({"cache", "--json", mnt_});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_GE(json_value(r.output, "usage_bytes"), 4u << 20) << r.output;
  // The directory is in use: only the mount may drop it.
  auto busy = netfs({"cache", "--json", "--drop", cache_dir()});
  EXPECT_NE(busy.status, 0) << busy.output;
  r = netfs({"cache", "--json", "--drop", mnt_});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(json_value(r.output, "usage_bytes"), 0u) << r.output;
  write_file(path("g"), random_bytes(1 << 20, 7));
  umount();
  r = netfs({"cache", "--json", cache_dir()});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(json_value(r.output, "objects"), 1u) << r.output;
  r = netfs({"cache", "--json", "--drop", cache_dir()});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(json_value(r.output, "objects"), 0u) << r.output;
}

TEST_F(CacheMount, NetfsCachePrintsASummaryForPeopleByDefault) {
  ASSERT_TRUE(mount_cached());
  write_file(path("f"), random_bytes(1 << 20, 8));
  auto r = netfs({"cache", mnt_});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find('{'), std::string::npos) << r.output;  // not JSON
  for (const char* line : {"directory     " , "usage         ", "files         ", "hit rate      ", "listings      "})
    EXPECT_NE(r.output.find(line), std::string::npos) << line << " in " << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("usage         1\\.[0-9] MiB of [0-9.]+ [KMGT]iB"))) << r.output;
  umount();
  r = netfs({"cache", cache_dir()});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("files         1 (0 empty)"), std::string::npos) << r.output;
}

TEST_F(CacheMount, TheSizeLimitHolds) {
  ASSERT_TRUE(mount_cached("cache_size=8M"));
  for (int i = 0; i < 4; i++) write_file(path("f" + std::to_string(i)), random_bytes(4 << 20, 10 + i));
  auto r = netfs({"cache", "--json", mnt_});
  EXPECT_LE(json_value(r.output, "usage_bytes"), 8u << 20) << r.output;
}

// The mount daemon of mnt (a process this test started): found by its command line.
pid_t daemon_pid(const std::string& mnt) {
  for (auto& d : std::filesystem::directory_iterator("/proc")) {
    std::string name = d.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(d.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), {});
    if (cmd.find(std::string("mount") + '\0') != std::string::npos && cmd.find(mnt + '\0') != std::string::npos)
      return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}

// Files on the server, read through the mount: the flusher copies what was read into the
// cache in the background, and our own writes go there too; the daemon is killed in the
// middle of it. `extra`: more mount options (the encrypted cache).
void CacheMount::sigkill_during_cache_filling(const std::string& extra) {
  std::vector<std::vector<char>> files;
  for (int i = 0; i < 3; i++) {
    files.push_back(random_bytes((8 << 20) + 12345 * i, 20 + i));
    std::ofstream out(server_path("s" + std::to_string(i)), std::ios::binary);
    out.write(files[i].data(), static_cast<std::streamsize>(files[i].size()));
  }
  ASSERT_TRUE(mount_cached("writeback_delay=1ms" + extra));
  for (int i = 0; i < 3; i++) EXPECT_EQ(slurp(path("s" + std::to_string(i))), files[i]);
  write_file(path("w"), random_bytes(8 << 20, 30));
  {
    int fd = ::open(path("w").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    auto more = random_bytes(4 << 20, 31);
    ASSERT_EQ(::pwrite(fd, more.data(), more.size(), 2 << 20), static_cast<ssize_t>(more.size()));
    pid_t pid = daemon_pid(mnt_);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ::close(fd);
    int st;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  run({"fusermount3", "-u", "-z", mnt_});
  mounted_ = false;
  {
    // diod 1.0.24 sometimes exits when a client dies with requests in flight (it is our
    // child, so it waits as a zombie): bring it back on the same port and export.
    std::ifstream st("/proc/" + std::to_string(diod_->pid()) + "/stat");
    std::string pid, comm, state;
    st >> pid >> comm >> state;
    if (state == "Z") {
      ASSERT_TRUE(diod_->restart()) << diod_->error();
    }
  }
  ASSERT_TRUE(mount_cached(extra.empty() ? "" : extra.substr(1)));
  for (int i = 0; i < 3; i++) EXPECT_EQ(slurp(path("s" + std::to_string(i))), files[i]);
  EXPECT_EQ(slurp(path("w")), slurp(server_path("w")));
  EXPECT_EQ(stat("cache_corrupt_granules"), 0u);
  // A killed daemon leaves records cleared before their granules were rewritten: absent,
  // not forged.
  EXPECT_EQ(stat("cache_auth_failures"), 0u);
  EXPECT_GT(stat("cache_read_bytes"), 0u);
}

TEST_F(CacheMount, SigkillDuringCacheFillingNeverServesWrongBytes) { sigkill_during_cache_filling(""); }

TEST_F(CacheMount, SigkillDuringEncryptedCacheFillingNeverServesWrongBytes) {
  std::string key = work_ + "/cache.key";
  auto r = netfs({"cache", "--new-key", key});
  ASSERT_EQ(r.status, 0) << r.output;
  sigkill_during_cache_filling(",cache_key=" + key);
}

TEST_F(CacheMount, ACacheDirectoryServesOneMount) {
  ASSERT_TRUE(mount_cached());
  std::string mnt2 = work_ + "/mnt2";
  std::filesystem::create_directory(mnt2);
  auto r = netfs({"mount", url(), mnt2, "-o", "cache_dir=" + cache_dir() + ",log=" + work_ + "/netfs2.log"});
  if (r.status == 0) run({"fusermount3", "-u", "-z", mnt2});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("cache_dir"), std::string::npos) << r.output;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  for (auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(CacheMount, AnUnchangedDirectoryIsListedFromTheCacheAfterARemount) {
  std::filesystem::create_directory(server_path("d"));
  std::vector<std::string> want;
  for (int i = 0; i < 300; i++) {
    want.push_back("entry-with-a-longish-name-" + std::to_string(i));
    std::ofstream(server_path("d/" + want.back())) << i;
  }
  std::sort(want.begin(), want.end());

  ASSERT_TRUE(mount_cached());
  struct stat st;
  ASSERT_EQ(::stat(path("d").c_str(), &st), 0);
  uint64_t rpcs0 = stat("p9_rpcs");
  EXPECT_EQ(list_dir(path("d")), want);
  uint64_t cold_rpcs = stat("p9_rpcs") - rpcs0;
  EXPECT_EQ(stat("fuse_listings_fetched"), 1u);
  EXPECT_EQ(stat("cache_listing_misses"), 1u);
  umount();  // the daemon's exit waits for the listing to be stored

  ASSERT_TRUE(mount_cached());
  ASSERT_EQ(::stat(path("d").c_str(), &st), 0);
  rpcs0 = stat("p9_rpcs");
  EXPECT_EQ(list_dir(path("d")), want);
  uint64_t warm_rpcs = stat("p9_rpcs") - rpcs0;
  // No Treaddir at all: the one getattr of the directory (the kernel may revalidate its
  // attributes with one more).
  EXPECT_EQ(stat("fuse_listings_fetched"), 0u);
  EXPECT_EQ(stat("cache_listing_hits"), 1u);
  EXPECT_LE(warm_rpcs, 2u);
  std::printf("listing of 300 entries: %llu RPCs cold, %llu after a remount\n",
              static_cast<unsigned long long>(cold_rpcs), static_cast<unsigned long long>(warm_rpcs));

  // Changed on the server behind the mount's back: listed anew.
  std::ofstream(server_path("d/added-on-the-server")) << "x";
  want.push_back("added-on-the-server");
  std::sort(want.begin(), want.end());
  EXPECT_EQ(list_dir(path("d")), want);
  EXPECT_EQ(stat("fuse_listings_fetched"), 1u);

  // Changed through the mount, at once (within one mtime tick, too): listed anew.
  EXPECT_EQ(list_dir(path("d")), want);
  std::ofstream(path("d/added-here")) << "y";
  ASSERT_EQ(::unlink(path("d/entry-with-a-longish-name-7").c_str()), 0);
  want.push_back("added-here");
  want.erase(std::find(want.begin(), want.end(), "entry-with-a-longish-name-7"));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(list_dir(path("d")), want);
  umount();

  // And what we changed ourselves is what a remount lists.
  ASSERT_TRUE(mount_cached());
  EXPECT_EQ(list_dir(path("d")), want);
}

TEST_F(CacheMount, RenameMkdirAndRmdirThroughTheMountAreListedAtOnce) {
  ASSERT_TRUE(mount_cached());
  ASSERT_EQ(::mkdir(path("a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(path("b").c_str(), 0755), 0);
  std::ofstream(path("a/f")) << "f";
  EXPECT_EQ(list_dir(path("a")), std::vector<std::string>{"f"});
  EXPECT_EQ(list_dir(path("b")), std::vector<std::string>{});
  // Both listings are cached now; each change must reach the next listing at once.
  ASSERT_EQ(::rename(path("a/f").c_str(), path("b/g").c_str()), 0);
  EXPECT_EQ(list_dir(path("a")), std::vector<std::string>{});
  EXPECT_EQ(list_dir(path("b")), std::vector<std::string>{"g"});
  ASSERT_EQ(::mkdir(path("b/sub").c_str(), 0755), 0);
  EXPECT_EQ(list_dir(path("b")), (std::vector<std::string>{"g", "sub"}));
  ASSERT_EQ(::rmdir(path("b/sub").c_str()), 0);
  EXPECT_EQ(list_dir(path("b")), std::vector<std::string>{"g"});
  ASSERT_EQ(::symlink("g", path("b/l").c_str()), 0);
  ASSERT_EQ(::link(path("b/g").c_str(), path("a/h").c_str()), 0);
  EXPECT_EQ(list_dir(path("a")), std::vector<std::string>{"h"});
  EXPECT_EQ(list_dir(path("b")), (std::vector<std::string>{"g", "l"}));
  umount();
  ASSERT_TRUE(mount_cached());
  EXPECT_EQ(list_dir(path("a")), std::vector<std::string>{"h"});
  EXPECT_EQ(list_dir(path("b")), (std::vector<std::string>{"g", "l"}));
  auto r = netfs({"cache", "--json", mnt_});
  EXPECT_NE(r.output.find("\"listing_hit_rate\":"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace netfs::testing
