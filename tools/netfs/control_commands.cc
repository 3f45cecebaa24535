// umount, stats and trace: clients of a running mount's control channel.
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fuse/control_channel.h"
#include "fuse/mount_session.h"
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

bool wait_gone(pid_t pid, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
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
  char real[PATH_MAX];
  if (realpath(path.c_str(), real)) return real;
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec).lexically_normal().string();
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  return ec ? path : abs;
}

int cmd_umount(const std::string& given) {
  std::string mp = canonical_mountpoint(given);
  std::string why;
  auto info = fuse::control_request(mp, "info", &why, 10000);
  if (!info.ok()) {
    if (!fuse::is_mountpoint(mp)) {
      fprintf(stderr, "netfs: %s is not mounted\n", mp.c_str());
      return 1;
    }
    // The daemon is gone (crashed or killed): its dirty data went with it. Clean up.
    fprintf(stderr, "netfs: %s; unmounting the dead mount\n", why.c_str());
    if (do_unmount(mp, &why) != 0) {
      fprintf(stderr, "netfs: cannot unmount %s: %s\n", mp.c_str(), why.c_str());
      return 1;
    }
    return 1;
  }
  pid_t pid = 0;
  if (auto p = info->find("pid "); p != std::string::npos) pid = std::atoi(info->c_str() + p + 4);

  auto sync = fuse::control_request(mp, "sync", &why);
  if (!sync.ok()) {
    fprintf(stderr, "netfs: write-back failed: %s\n", why.c_str());
    return 1;
  }
  std::istringstream in(*sync);
  std::string line;
  int unwritten = 0;
  while (std::getline(in, line)) {
    if (!line.starts_with("unwritten ")) continue;
    std::istringstream ls(line.substr(10));
    unsigned long long bytes = 0;
    int err = 0;
    std::string path;
    ls >> bytes >> err;
    std::getline(ls, path);
    if (!path.empty() && path.front() == ' ') path.erase(0, 1);
    fprintf(stderr, "netfs: %s: %llu bytes could not be written: %s\n", path.c_str(), bytes, strerror(err));
    unwritten++;
  }
  if (unwritten) {
    fprintf(stderr,
            "netfs: %d file(s) keep unwritten data in memory; %s stays mounted. Fix the server and run "
            "`netfs umount %s` again.\n",
            unwritten, mp.c_str(), mp.c_str());
    return 1;
  }
  if (do_unmount(mp, &why) != 0) {
    fprintf(stderr, "netfs: cannot unmount %s: %s\n", mp.c_str(), why.c_str());
    return 1;
  }
  if (pid > 0 && !wait_gone(pid, std::chrono::seconds(60))) {
    fprintf(stderr, "netfs: unmounted, but the daemon (pid %d) is still writing back after 60 s\n", pid);
    return 1;
  }
  return 0;
}

int cmd_stats(const std::string& given, bool json) {
  std::string mp = canonical_mountpoint(given);
  std::string why;
  auto r = fuse::control_request(mp, json ? "stats json" : "stats", &why, 10000);
  if (!r.ok()) {
    fprintf(stderr, "netfs: %s\n", why.c_str());
    return 1;
  }
  fputs(r->c_str(), stdout);
  return 0;
}

int cmd_trace(const std::string& given, bool follow) {
  std::string mp = canonical_mountpoint(given);
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
