// cache_bench: reads a file through a fresh mount twice: once from the server (a mount
// without cache, so every byte is a 9P read) and once from the local disk cache (a mount
// with the cache_dir that an earlier mount filled by writing the file). Both mounts are
// new, so the kernel's page cache holds nothing of the file; diod's export is in the
// same place for both. Prints MB/s of each and the ratio, measured in the same run.
// Then a cold read filling a plain cache and one filling an encrypted cache (-o
// cache_key), and --rounds rounds of cold, warm plain and warm encrypted reads, with the
// mount daemon's CPU seconds per GiB of each read (from /proc/PID/stat).
//
//   ./build/bench/cache/cache_bench [--size-mib N] [--rounds R] [--export-parent DIR] [--cache-parent DIR]
#include <dirent.h>
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

// The netfs daemon serving `mnt` (its command line names the mount point).
int daemon_pid(const std::string& mnt) {
  DIR* d = ::opendir("/proc");
  int found = -1;
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::FILE* f = std::fopen(("/proc/" + std::string(e->d_name) + "/cmdline").c_str(), "r");
    if (!f) continue;
    std::string cmd;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) cmd.append(buf, n);
    std::fclose(f);
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find(" mount ") != std::string::npos && cmd.find(" " + mnt + " ") != std::string::npos) found = pid;
  }
  if (d) ::closedir(d);
  return found;
}

// utime + stime of a process, in seconds.
double cpu_seconds(int pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  char buf[2048] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  std::string s(buf, n);
  size_t p = s.rfind(')');
  unsigned long long ut = 0, st = 0;
  // Fields after the command: state(3) ... utime(14) stime(15).
  std::sscanf(s.c_str() + p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
  return static_cast<double>(ut + st) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

uint64_t json_value(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + "\":([0-9]+)"))) return 0;
  return std::strtoull(m[1].str().c_str(), nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 1024;
  int rounds = 2;
  std::string export_parent = "/tmp", cache_parent = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--size-mib")) mib = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--export-parent")) export_parent = argv[i + 1];
    if (!std::strcmp(argv[i], "--cache-parent")) cache_parent = argv[i + 1];
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
  }
  netfs::testing::DiodServer diod(netfs::testing::DiodServer::Transport::kTcp, export_parent);
  if (!diod.start()) {
    std::fprintf(stderr, "cache_bench: %s\n", diod.error().c_str());
    return 1;
  }
  std::string work = cache_parent + "/netfs-cache-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(work + "/mnt");
  std::string mnt = work + "/mnt", cache = work + "/cache", enc_cache = work + "/enc-cache";
  std::string key = work + "/key";
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

  const double gib = static_cast<double>(mib) / 1024.0;
  // One read through a fresh mount: seconds, and the daemon's CPU seconds per GiB.
  auto timed_read = [&](size_t* bytes, double* cpu_per_gib) {
    int pid = daemon_pid(mnt);
    double c0 = cpu_seconds(pid);
    double s = read_all(mnt + "/f", bytes);
    *cpu_per_gib = (cpu_seconds(pid) - c0) / gib;
    return s;
  };
  size_t cold_bytes = 0, warm_bytes = 0;
  double cold_cpu = 0, warm_cpu = 0;
  mount("");  // no cache: every byte from diod
  double cold = timed_read(&cold_bytes, &cold_cpu);
  uint64_t cold_download = json_value(sh(netfs + " stats --json " + mnt), "download_bytes");
  umount();

  const std::string size_opt = ",cache_size=" + std::to_string(2 * mib) + "M";
  mount("cache_dir=" + cache + size_opt);
  double warm = timed_read(&warm_bytes, &warm_cpu);
  std::string st = sh(netfs + " stats --json " + mnt);
  umount();

  // A cold read that fills a plain cache, then one that fills the encrypted cache: what
  // sealing adds to the copy-to-cache path.
  size_t pfill_bytes = 0;
  double pfill_cpu = 0;
  mount("cache_dir=" + work + "/fill-cache" + size_opt);
  double pfill = timed_read(&pfill_bytes, &pfill_cpu);
  umount();
  std::filesystem::remove_all(work + "/fill-cache");
  sh(netfs + " cache --new-key " + key);
  const std::string enc_opts = "cache_dir=" + enc_cache + ",cache_key=" + key + size_opt;
  size_t fill_bytes = 0;
  double fill_cpu = 0;
  mount(enc_opts);
  double fill = timed_read(&fill_bytes, &fill_cpu);
  umount();
  // Each round reads cold, warm plain and warm encrypted, so that the machine's load
  // (shared) weighs on the three alike.
  std::vector<double> cold_s, cold_c, plain_s, plain_cpu, enc_s, enc_cpu;
  uint64_t enc_download = 0, enc_failures = 0, enc_cache_read = 0;
  bool same = fill_bytes == cold_bytes && pfill_bytes == cold_bytes;
  for (int r = 0; r < rounds; r++) {
    size_t b = 0;
    double c = 0;
    mount("");
    cold_s.push_back(timed_read(&b, &c));
    cold_c.push_back(c);
    umount();
    same = same && b == cold_bytes;
    mount("cache_dir=" + cache + size_opt);
    plain_s.push_back(timed_read(&b, &c));
    plain_cpu.push_back(c);
    umount();
    same = same && b == cold_bytes;
    mount(enc_opts);
    enc_s.push_back(timed_read(&b, &c));
    enc_cpu.push_back(c);
    std::string es = sh(netfs + " stats --json " + mnt);
    enc_download += json_value(es, "download_bytes");
    enc_failures += json_value(es, "cache_auth_failures");
    enc_cache_read += json_value(es, "cache_read_bytes");
    umount();
    same = same && b == cold_bytes;
  }

  double mb = static_cast<double>(mib) * 1048576.0 / 1e6;
  std::printf("cache_bench: %zu MiB, export in %s, cache in %s, 1 MiB reads, fresh mount each\n", mib,
              export_parent.c_str(), cache_parent.c_str());
  std::printf("  cold from server : %8.1f MB/s  (%.3f s, download_bytes %llu, daemon %.2f CPU s/GiB)\n", mb / cold,
              cold, static_cast<unsigned long long>(cold_download), cold_cpu);
  std::printf("  warm from cache  : %8.1f MB/s  (%.3f s, download_bytes %llu, cache_read_bytes %llu, daemon %.2f CPU "
              "s/GiB)\n",
              mb / warm, warm, static_cast<unsigned long long>(json_value(st, "download_bytes")),
              static_cast<unsigned long long>(json_value(st, "cache_read_bytes")), warm_cpu);
  std::printf("  ratio warm/cold  : %.2f\n", cold / warm);
  std::printf("  cold, filling a plain cache       : %8.1f MB/s (daemon %.2f CPU s/GiB)\n", mb / pfill, pfill_cpu);
  std::printf("  cold, filling the encrypted cache : %8.1f MB/s (daemon %.2f CPU s/GiB)\n", mb / fill, fill_cpu);
  double cs = 0, ps = 0, pc = 0, es = 0, ec = 0;
  for (int r = 0; r < rounds; r++) {
    std::printf("  round %d: cold %6.1f MB/s (%.2f CPU s/GiB), warm plain %6.1f MB/s (%.2f), warm encrypted %6.1f "
                "MB/s (%.2f)\n",
                r + 1, mb / cold_s[r], cold_c[r], mb / plain_s[r], plain_cpu[r], mb / enc_s[r], enc_cpu[r]);
    cs += cold_s[r], ps += plain_s[r], pc += plain_cpu[r], es += enc_s[r], ec += enc_cpu[r];
  }
  cs /= rounds, ps /= rounds, pc /= rounds, es /= rounds, ec /= rounds;
  std::printf("  over the rounds: cold %.1f MB/s, warm plain %.1f MB/s (%.2fx cold), warm encrypted %.1f MB/s\n",
              mb / cs, mb / ps, cs / ps, mb / es);
  std::printf("  encrypted warm: %.0f%% of plain warm (target >= 80%%), %.2fx cold (target >= 2x)\n", 100 * ps / es,
              cs / es);
  std::printf("  encryption CPU: %.2f - %.2f = %.2f CPU s/GiB over the plain warm read (target <= 1)\n", ec, pc,
              ec - pc);
  std::printf("  encrypted reads: download_bytes %llu, cache_read_bytes %llu, cache_auth_failures %llu\n",
              static_cast<unsigned long long>(enc_download), static_cast<unsigned long long>(enc_cache_read),
              static_cast<unsigned long long>(enc_failures));
  std::filesystem::remove_all(work);
  return same && cold_bytes == warm_bytes && cold_bytes == mib << 20 && enc_download == 0 && enc_failures == 0 ? 0 : 1;
}
