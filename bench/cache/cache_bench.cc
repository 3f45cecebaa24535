// cache_bench: reads a file through a fresh mount twice: once from the server (a mount
// without cache, so every byte is a 9P read) and once from the local disk cache (a mount
// with the cache_dir that an earlier mount filled by writing the file). Both mounts are
// new, so the kernel's page cache holds nothing of the file; diod's export is in the
// same place for both. Prints MB/s of each and the ratio, measured in the same run.
//
//   ./build/bench/cache/cache_bench [--size-mib N] [--export-parent DIR] [--cache-parent DIR]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "integration/diod_server.h"

namespace {

std::string sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  if (st != 0) std::fprintf(stderr, "cache_bench: '%s' failed: %s\n", cmd.c_str(), out.c_str());
  return out;
}

double read_all(const std::string& path, size_t* bytes) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::vector<char> buf(1 << 20);
  auto t0 = std::chrono::steady_clock::now();
  size_t total = 0;
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) total += static_cast<size_t>(n);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  *bytes = total;
  return s;
}

uint64_t json_value(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + "\":([0-9]+)"))) return 0;
  return std::strtoull(m[1].str().c_str(), nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 256;
  std::string export_parent = "/tmp", cache_parent = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--size-mib")) mib = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--export-parent")) export_parent = argv[i + 1];
    if (!std::strcmp(argv[i], "--cache-parent")) cache_parent = argv[i + 1];
  }
  netfs::testing::DiodServer diod(netfs::testing::DiodServer::Transport::kTcp, export_parent);
  if (!diod.start()) {
    std::fprintf(stderr, "cache_bench: %s\n", diod.error().c_str());
    return 1;
  }
  std::string work = cache_parent + "/netfs-cache-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(work + "/mnt");
  std::string mnt = work + "/mnt", cache = work + "/cache";
  std::string url = "9p://127.0.0.1:" + std::to_string(diod.port()) + diod.dir();
  std::string netfs = NETFS_BIN;
  auto mount = [&](const std::string& opts) {
    sh(netfs + " mount " + url + " " + mnt + " -o log=" + work + "/netfs.log" + (opts.empty() ? "" : "," + opts));
  };
  auto umount = [&] { sh(netfs + " umount " + mnt); };

  // The file, written through a cached mount: it lands on the server and in the cache.
  mount("cache_dir=" + cache + ",cache_size=" + std::to_string(2 * mib) + "M");
  {
    std::vector<char> buf(1 << 20);
    std::mt19937_64 rng(1);
    int fd = ::open((mnt + "/f").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    for (size_t i = 0; i < mib; i++) {
      for (size_t j = 0; j + 8 <= buf.size(); j += 8) {
        uint64_t x = rng();
        std::memcpy(buf.data() + j, &x, 8);
      }
      if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) std::perror("write");
    }
    ::close(fd);
  }
  umount();

  size_t cold_bytes = 0, warm_bytes = 0;
  mount("");  // no cache: every byte from diod
  double cold = read_all(mnt + "/f", &cold_bytes);
  uint64_t cold_download = json_value(sh(netfs + " stats --json " + mnt), "download_bytes");
  umount();

  mount("cache_dir=" + cache + ",cache_size=" + std::to_string(2 * mib) + "M");
  double warm = read_all(mnt + "/f", &warm_bytes);
  std::string st = sh(netfs + " stats --json " + mnt);
  umount();

  double mb = static_cast<double>(mib) * 1048576.0 / 1e6;
  std::printf("cache_bench: %zu MiB, export in %s, cache in %s, 1 MiB reads, fresh mount each\n", mib,
              export_parent.c_str(), cache_parent.c_str());
  std::printf("  cold from server : %8.1f MB/s  (%.3f s, download_bytes %llu)\n", mb / cold, cold,
              static_cast<unsigned long long>(cold_download));
  std::printf("  warm from cache  : %8.1f MB/s  (%.3f s, download_bytes %llu, cache_read_bytes %llu)\n", mb / warm,
              warm, static_cast<unsigned long long>(json_value(st, "download_bytes")),
              static_cast<unsigned long long>(json_value(st, "cache_read_bytes")));
  std::printf("  ratio warm/cold  : %.2f\n", cold / warm);
  std::filesystem::remove_all(work);
  return cold_bytes == warm_bytes && cold_bytes == mib << 20 ? 0 : 1;
}
