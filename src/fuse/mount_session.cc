#include "fuse/mount_session.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "fuse/control_channel.h"
#include "fuse/filesystem.h"
#include "fuse/fuse_ops.h"
#include "fuse/mount_options.h"
#include "fuse/mount_table.h"
#include "fuse/remote_url.h"
#include "fuse/unmount_drain.h"

namespace netfs::fuse {

namespace {

// Where the daemon tells the waiting parent how the mount went: "0\n" or "CODE message".
class ReadyPipe {
 public:
  void set(int fd) { fd_ = fd; }
  void report(int code, const std::string& msg) {
    if (fd_ < 0) {
      if (code) fprintf(stderr, "netfs: %s\n", msg.c_str());
      return;
    }
    std::string s = std::to_string(code) + " " + msg + "\n";
    (void)!::write(fd_, s.data(), s.size());
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// The unwritten files of a sync_all, one "unwritten BYTES ERRNO PATH" line each.
std::string unwritten_lines(const std::vector<UnwrittenFile>& files) {
  std::string out;
  for (const auto& f : files)
    out += "unwritten " + std::to_string(f.dirty_bytes) + " " + std::to_string(f.error) + " " + f.path + "\n";
  return out;
}

// `trace AFTER`: the ring's records with seq > AFTER, one line each (TraceRecord::format),
// a record of a file followed by one of its paths when the mount knows one, then
// "seq LAST". A control character or backslash in a path is written as \xHH, so that a
// name cannot break the lines.
std::string trace_lines(Filesystem& fs, uint64_t after) {
  std::string out = "OK\n";
  uint64_t last = after;
  std::unordered_map<uint64_t, std::string> paths;  // one lookup per file per answer
  for (const auto& r : fs.engine().trace().snapshot(after)) {
    out += r.format();
    if (r.ino) {
      auto [it, fresh] = paths.try_emplace(r.ino);
      if (fresh) it->second = fs.trace_path(r.ino);
      if (!it->second.empty()) {
        out.push_back(' ');
        for (unsigned char c : it->second) {
          if (c >= 0x20 && c != 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
          } else {
            char esc[5];
            std::snprintf(esc, sizeof esc, "\\x%02x", c);
            out += esc;
          }
        }
      }
    }
    out.push_back('\n');
    last = r.seq;
  }
  return out + "seq " + std::to_string(last) + "\n";
}

// `umount`: joins (or starts) the unmount drain and answers "joined" first if another
// umount started it, a "wait BYTES CONNECTED SERVER" line at once and every 2 s while it
// runs, then its outcome (unwritten lines) and "drained". The umount client unmounts only after
// "drained" with no unwritten line, so the daemon and its mount stay together otherwise.
std::string umount_command(Filesystem& fs, UnmountDrain& drain, ControlReply& reply) {
  constexpr auto kSlice = std::chrono::milliseconds(200);
  constexpr int kSlicesPerReport = 10;
  int slices = 0;
  auto progress = [&] {
    return reply.send("wait " + std::to_string(fs.engine().dirty_bytes()) + " " +
                      (fs.client().connected() ? "1 " : "0 ") + fs.client().options().endpoint.to_string() + "\n");
  };
  if (!reply.send("OK\n")) return {};
  auto outcome = drain.join(
      kSlice,
      [&] {
        if (reply.stopping()) return false;
        return ++slices % kSlicesPerReport ? true : progress();
      },
      [&](bool joined) {
        if (joined) reply.send("joined\n");
        progress();
      });
  if (!outcome) return {};
  return *outcome + "drained\n";
}

std::string handle_command(Filesystem& fs, const std::string& mountpoint, UnmountDrain& drain, std::string_view cmd,
                           ControlReply& reply) {
  if (cmd == "info")
    return "OK\npid " + std::to_string(getpid()) + "\nremote " + fs.url().to_string() + "\nmountpoint " +
           mountpoint + "\n";
  if (cmd == "stats") return "OK\n" + fs.stats_text();
  if (cmd == "stats json") return "OK\n" + fs.stats_json();
  if (cmd == "stats prometheus") return "OK\n" + fs.stats_prometheus(mountpoint);
  if (cmd == "cache") return "OK\n" + fs.cache_json() + "\n";
  if (cmd == "cache drop") {
    Status st = fs.cache_drop();
    return st.ok() ? "OK\n" + fs.cache_json() + "\n" : "ERR " + std::to_string(st.errnum()) + " " + st.error().message() + "\n";
  }
  if (cmd.starts_with("trace")) {
    uint64_t after = 0;
    if (cmd.size() > 6) after = std::strtoull(std::string(cmd.substr(6)).c_str(), nullptr, 10);
    return trace_lines(fs, after);
  }
  if (cmd == "sync") return "OK\n" + unwritten_lines(fs.sync_all());
  if (cmd == "umount") return umount_command(fs, drain, reply);
  return "ERR " + std::to_string(EINVAL) + " unknown command '" + std::string(cmd) + "'\n";
}

int serve(const MountBuilder& build, const RemoteUrl& url, const MountOptions& opts, const std::string& mp,
          ReadyPipe& ready) {
  std::string why;
  auto fsr = build(url, opts, &why);
  if (!fsr.ok()) {
    ready.report(1, why);
    return 1;
  }
  std::unique_ptr<Filesystem> fs = std::move(*fsr);

  std::string mo = "fsname=" + url.to_string() + ",subtype=netfs";
  if (opts.allow_other) mo += ",allow_other";
  if (opts.kernel_checks_permissions()) mo += ",default_permissions";
  // Spelled out, each one: libfuse starts from nosuid,nodev and the kernel from
  // exec,relatime, and mountinfo then shows exactly what was asked.
  mo += opts.read_only ? ",ro" : ",rw";
  mo += opts.noexec ? ",noexec" : ",exec";
  mo += opts.nosuid ? ",nosuid" : ",suid";
  mo += opts.nodev ? ",nodev" : ",dev";
  if (opts.noatime) mo += ",noatime";
  if (opts.sync) mo += ",sync";
  if (opts.dirsync) mo += ",dirsync";
  std::vector<std::string> argv_s = {"netfs", "-o", mo};
  if (opts.debug) argv_s.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_session* se = fuse_session_new(&args, &lowlevel_ops(), sizeof(fuse_lowlevel_ops), fs.get());
  if (!se) {
    ready.report(1, "could not create the FUSE session (is the fuse module loaded?)");
    return 1;
  }
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    ready.report(1, "could not install signal handlers");
    return 1;
  }
  if (fuse_session_mount(se, mp.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    ready.report(1, "cannot mount on " + mp + " (see the log for libfuse's reason; is /dev/fuse usable?)");
    return 1;
  }
  UnmountDrain drain([&] { return unwritten_lines(fs->sync_all()); });
  ControlServer control;
  Status cs = control.start(control_socket_path(mp), [&](std::string_view cmd, ControlReply& reply) {
    return handle_command(*fs, mp, drain, cmd, reply);
  });
  if (!cs.ok()) {
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    ready.report(1, "control socket " + control_socket_path(mp) + ": " + cs.error().message());
    return 1;
  }
  fprintf(stderr, "netfs: mounted %s on %s (msize %u)\n", url.to_string().c_str(), mp.c_str(), fs->client().msize());
  ready.report(0, "ready");

  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  fuse_loop_cfg_set_max_threads(cfg, opts.threads);
  fuse_loop_cfg_set_idle_threads(cfg, opts.threads / 2 ? opts.threads / 2 : 1);
  int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);

  control.stop();
  drain.wait_idle();  // a drain still running uses fs
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  fs.reset();  // final write-back; reports what it could not write to the log
  fprintf(stderr, "netfs: unmounted %s (loop returned %d)\n", mp.c_str(), rc);
  return rc < 0 ? 1 : 0;
}

}  // namespace

bool is_mountpoint(const std::string& path) { return mount_at(path).has_value(); }

int run_mount(const MountRequest& req) {
  std::string why;
  auto url = parse_remote_url(req.remote, &why);
  if (!url.ok()) {
    fprintf(stderr, "netfs: %s\n", why.c_str());
    return 2;
  }
  MountOptions opts;
  if (!url->user.empty()) opts.p9.uname = url->user;  // uname= in the options, parsed next, overrides it
  if (!parse_mount_options(req.options, &opts, &why).ok()) {
    fprintf(stderr, "netfs: %s\n", why.c_str());
    return 2;
  }
  // fusermount3 would drop them with a warning; a mount must not quietly differ from its request.
  if ((!opts.nosuid || !opts.nodev) && geteuid() != 0) {
    fprintf(stderr, "netfs: options suid and dev need root: an unprivileged FUSE mount is always nosuid,nodev\n");
    return 2;
  }
  char real[PATH_MAX];
  if (!realpath(req.mountpoint.c_str(), real)) {
    fprintf(stderr, "netfs: mountpoint %s: %s\n", req.mountpoint.c_str(), strerror(errno));
    return 1;
  }
  std::string mp = real;
  struct stat st;
  if (::stat(mp.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "netfs: mountpoint %s is not a directory\n", mp.c_str());
    return 1;
  }
  if (is_mountpoint(mp)) {
    fprintf(stderr, "netfs: mountpoint %s is busy: something is already mounted there\n", mp.c_str());
    return 1;
  }
  std::string log = opts.log_file;
  if (log.empty()) {
    log = control_socket_path(mp);
    log.replace(log.size() - 5, 5, ".log");
  }

  ReadyPipe ready;
  if (!req.foreground) {
    // Opened here, before the fork, so that a log that cannot be written stops the mount
    // with a message instead of a daemon that talks to nobody.
    int logfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0) {
      fprintf(stderr, "netfs: cannot open the log file %s: %s\n", log.c_str(), strerror(errno));
      return 1;
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      perror("netfs: pipe");
      return 1;
    }
    fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      perror("netfs: fork");
      return 1;
    }
    if (pid > 0) {
      ::close(logfd);
      ::close(p[1]);
      std::string msg;
      char buf[512];
      ssize_t n;
      while ((n = ::read(p[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) msg.append(buf, static_cast<size_t>(n));
      ::close(p[0]);
      if (msg.empty()) {
        int status = 0;
        waitpid(pid, &status, WNOHANG);
        fprintf(stderr, "netfs: the mount daemon exited before the mount was ready (log: %s)\n", log.c_str());
        return 1;
      }
      int code = std::atoi(msg.c_str());
      std::string text = msg.substr(msg.find(' ') + 1);
      while (!text.empty() && text.back() == '\n') text.pop_back();
      if (code != 0) fprintf(stderr, "netfs: %s\n", text.c_str());
      return code;
    }
    // The daemon: its own session, no terminal, messages to the log.
    ::close(p[0]);
    ready.set(p[1]);
    setsid();
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) dup2(devnull, 0);
    if (logfd >= 0) {
      dup2(logfd, 1);
      dup2(logfd, 2);
    }
    if (chdir("/") != 0) {
      ready.report(1, "chdir /: " + std::string(strerror(errno)));
      _exit(1);
    }
    int rc = serve(req.build, *url, opts, mp, ready);
    _exit(rc);
  }
  return serve(req.build, *url, opts, mp, ready);
}

}  // namespace netfs::fuse
