// umount, stats (text, JSON, Prometheus, --watch) and trace: clients of a running mount's control channel.
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "fuse/control_channel.h"
#include "fuse/mount_table.h"
#include "tools/netfs/commands.h"

namespace netfs::cli {

namespace {

// Unmounts with umount2 as root, else with fusermount3 (the setuid helper).
int do_unmount(const std::string& mp, std::string* why) {
  if (geteuid() == 0) {
    if (::umount2(mp.c_str(), 0) == 0) return 0;
    *why = strerror(errno);
    return errno;
  }
  pid_t pid = fork();
  if (pid == 0) {
    execlp("fusermount3", "fusermount3", "-u", mp.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  *why = "fusermount3 -u failed";
  return EBUSY;
}

// Waits for the daemon's exit after the unmount (its last write-back), saying so every
// 5 s rather than waiting in silence.
bool wait_gone(pid_t pid, std::chrono::seconds limit, const std::string& mp) {
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + limit;
  auto next_note = start + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::chrono::steady_clock::now() >= next_note) {
      fprintf(stderr, "netfs: %s is unmounted; waiting for its daemon (pid %d) to finish its last write-back\n",
              mp.c_str(), pid);
      next_note += std::chrono::seconds(5);
    }
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    // A zombie has finished; only its parent has not collected it yet.
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string pidf, comm, state;
    if (st >> pidf >> comm >> state && state == "Z") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

std::string canonical_mountpoint(const std::string& path) {
  // A mountpoint is resolved without looking into it: realpath() of the path itself stats
  // the mounted root, which on a netfs mount whose server is gone waits for that server
  // (a FUSE getattr) and on a dead mount fails. So resolve the parent, and take the last
  // name as it is when that names a mount.
  std::string given = path;
  while (given.size() > 1 && given.back() == '/') given.pop_back();
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(given, ec);
  char real[PATH_MAX];
  if (!ec) {
    std::string name = abs.filename().string();
    if (!name.empty() && name != "." && name != ".." && realpath(abs.parent_path().c_str(), real)) {
      std::string parent = real;
      std::string candidate = (parent == "/" ? "" : parent) + "/" + name;
      if (fuse::mount_at(candidate)) return candidate;
    }
  }
  if (realpath(path.c_str(), real)) return real;
  auto norm = abs.lexically_normal().string();
  while (norm.size() > 1 && norm.back() == '/') norm.pop_back();
  return ec ? path : norm;
}

std::optional<std::string> netfs_mountpoint(const std::string& given) {
  std::string mp = canonical_mountpoint(given);
  auto m = fuse::mount_at(mp);
  if (!m) {
    fprintf(stderr, "netfs: %s is not a mount point\n", mp.c_str());
    return std::nullopt;
  }
  if (!fuse::is_netfs(*m)) {
    fprintf(stderr, "netfs: %s is not a netfs mount (it is %s, type %s); left alone\n", mp.c_str(),
            m->source.c_str(), m->fstype.c_str());
    return std::nullopt;
  }
  return mp;
}

int cmd_umount(const std::string& given) {
  auto ours = netfs_mountpoint(given);
  if (!ours) return 2;
  const std::string& mp = *ours;
  std::string why;
  auto info = fuse::control_request(mp, "info", &why, 10000);
  if (!info.ok()) {
    if (!fuse::nobody_listens(info.errnum())) {
      fprintf(stderr, "netfs: %s; %s stays mounted\n", why.c_str(), mp.c_str());
      return 1;
    }
    // The daemon is gone (crashed or killed): its dirty data went with it. Clean up.
    fprintf(stderr, "netfs: %s; the mount's daemon is gone: unmounting the dead mount\n", why.c_str());
    if (do_unmount(mp, &why) != 0) {
      fprintf(stderr, "netfs: cannot unmount %s: %s\n", mp.c_str(), why.c_str());
      return 1;
    }
    return 1;
  }
  pid_t pid = 0;
  if (auto p = info->find("pid "); p != std::string::npos) pid = std::atoi(info->c_str() + p + 4);

  // The daemon's drain: progress while it runs, then its outcome. A second umount joins
  // the running drain and gets the same lines, so both say and do the same.
  int unwritten = 0;
  int busy = 0;  // of those, files a process wrote to during the write-back
  bool drained = false;
  Status st = fuse::control_stream(
      mp, "umount",
      [&](std::string_view l) {
        std::string line(l);
        if (line == "joined") {
          fprintf(stderr, "netfs: another netfs umount of %s is writing back; waiting for its outcome\n", mp.c_str());
        } else if (line.starts_with("wait ")) {
          std::istringstream ls(line.substr(5));
          unsigned long long bytes = 0;
          int connected = 0;
          std::string server;
          ls >> bytes >> connected >> server;
          if (!bytes && connected) return;  // nothing to say
          fprintf(stderr, "netfs: %s: waiting to write %llu bytes to %s%s\n", mp.c_str(), bytes, server.c_str(),
                  connected ? "" : " (the server does not answer; still trying)");
        } else if (line.starts_with("unwritten ")) {
          std::istringstream ls(line.substr(10));
          unsigned long long bytes = 0;
          int err = 0;
          std::string path;
          ls >> bytes >> err;
          std::getline(ls, path);
          if (!path.empty() && path.front() == ' ') path.erase(0, 1);
          if (err == EBUSY) {
            fprintf(stderr, "netfs: %s: %llu bytes were written to it during the write-back (it is still open)\n",
                    path.c_str(), bytes);
            busy++;
          } else {
            fprintf(stderr, "netfs: %s: %llu bytes could not be written: %s\n", path.c_str(), bytes, strerror(err));
          }
          unwritten++;
        } else if (line == "drained") {
          drained = true;
        }
      },
      &why, 60000);
  if (!drained) {
    // The answer broke off: the daemon stopped serving (the mount was unmounted some other
    // way) or it hangs. Say which, and touch nothing.
    auto m = fuse::mount_at(mp);
    bool still = m && fuse::is_netfs(*m);
    fprintf(stderr, "netfs: the write-back before unmounting did not finish: %s; %s\n",
            st.ok() ? "the daemon ended the answer early" : why.c_str(),
            still ? (mp + " stays mounted").c_str() : (mp + " was unmounted by someone else meanwhile").c_str());
    return 1;
  }
  if (unwritten && busy == unwritten) {
    fprintf(stderr,
            "netfs: %d file(s) are still being written through %s; it stays mounted. Close them and run `netfs "
            "umount %s` again.\n",
            busy, mp.c_str(), mp.c_str());
    return 1;
  }
  if (unwritten) {
    fprintf(stderr,
            "netfs: %d file(s) keep unwritten data in the memory of the daemon (pid %d); %s stays mounted. Fix "
            "the server and run `netfs umount %s` again.\n",
            unwritten, pid, mp.c_str(), mp.c_str());
    return 1;
  }
  if (do_unmount(mp, &why) != 0) {
    // A second umount that joined the same drain may have unmounted it first.
    auto m = fuse::mount_at(mp);
    if (m && fuse::is_netfs(*m)) {
      fprintf(stderr, "netfs: cannot unmount %s: %s; it stays mounted with its daemon (pid %d)\n", mp.c_str(),
              why.c_str(), pid);
      return 1;
    }
  }
  if (pid > 0 && !wait_gone(pid, std::chrono::seconds(60), mp)) {
    fprintf(stderr, "netfs: unmounted, but the daemon (pid %d) is still writing back after 60 s\n", pid);
    return 1;
  }
  return 0;
}

namespace {

// The flat object `stats json` answers: "key":number pairs, nothing nested.
std::map<std::string, double> parse_flat_json(const std::string& s) {
  std::map<std::string, double> out;
  static const std::regex pair("\"([a-z0-9_]+)\":(-?[0-9]+)");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), pair); it != std::sregex_iterator(); ++it)
    out[(*it)[1].str()] = std::strtod((*it)[2].str().c_str(), nullptr);
  return out;
}

// `--watch`: one line of rates per interval, like `iostat 1`.
int watch_stats(const std::string& mp, double seconds, long count) {
  std::string why;
  auto sample = [&]() -> std::optional<std::map<std::string, double>> {
    auto r = fuse::control_request(mp, "stats json", &why, 10000);
    if (!r.ok()) return std::nullopt;
    return parse_flat_json(*r);
  };
  auto prev = sample();
  if (!prev) {
    fprintf(stderr, "netfs: %s\n", why.c_str());
    return 1;
  }
  auto t_prev = std::chrono::steady_clock::now();
  printf("%8s %10s %10s %10s %10s %10s %10s\n", "time", "read", "write", "upload", "download", "rpcs/s", "dirty");
  printf("%8s %10s %10s %10s %10s %10s %10s\n", "", "MiB/s", "MiB/s", "MiB/s", "MiB/s", "", "MiB");
  fflush(stdout);
  for (long n = 0; count <= 0 || n < count; n++) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    auto cur = sample();
    if (!cur) {
      fprintf(stderr, "netfs: %s\n", why.c_str());
      return 1;
    }
    auto now = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(now - t_prev).count();
    auto rate = [&](const char* k) { return ((*cur)[k] - (*prev)[k]) / dt; };
    constexpr double kMiB = 1024.0 * 1024.0;
    time_t wall = time(nullptr);
    char hhmmss[16];
    strftime(hhmmss, sizeof hhmmss, "%H:%M:%S", localtime(&wall));
    printf("%8s %10.2f %10.2f %10.2f %10.2f %10.0f %10.2f\n", hhmmss, rate("read_buffered_bytes") / kMiB,
           rate("write_buffered_bytes") / kMiB, rate("upload_bytes") / kMiB, rate("download_bytes") / kMiB,
           rate("p9_rpcs"), (*cur)["mem_dirty_bytes"] / kMiB);
    fflush(stdout);
    prev = std::move(cur);
    t_prev = now;
  }
  return 0;
}

}  // namespace

int cmd_stats(const std::string& given, StatsFormat format, double watch_seconds, long count) {
  auto ours = netfs_mountpoint(given);
  if (!ours) return 2;
  const std::string& mp = *ours;
  if (watch_seconds > 0) return watch_stats(mp, watch_seconds, count);
  std::string why;
  const char* req = format == StatsFormat::kJson ? "stats json" : format == StatsFormat::kPrometheus ? "stats prometheus" : "stats";
  auto r = fuse::control_request(mp, req, &why, 10000);
  if (!r.ok()) {
    fprintf(stderr, "netfs: %s\n", why.c_str());
    return 1;
  }
  fputs(r->c_str(), stdout);
  return 0;
}

int cmd_trace(const std::string& given, bool follow) {
  auto ours = netfs_mountpoint(given);
  if (!ours) return 2;
  const std::string& mp = *ours;
  std::string why;
  uint64_t after = 0;
  for (;;) {
    auto r = fuse::control_request(mp, "trace " + std::to_string(after), &why, 10000);
    if (!r.ok()) {
      if (after) return 0;  // the mount went away while we followed it
      fprintf(stderr, "netfs: %s\n", why.c_str());
      return 1;
    }
    // The last line is "seq N": where the next request continues.
    auto p = r->rfind("seq ");
    if (p != std::string::npos) {
      fwrite(r->data(), 1, p, stdout);
      after = std::strtoull(r->c_str() + p + 4, nullptr, 10);
    }
    fflush(stdout);
    if (!follow) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace netfs::cli
