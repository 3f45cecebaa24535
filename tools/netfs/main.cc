// netfs: the command a person types. `netfs mount` starts a mount daemon; umount, stats
// trace and cache talk to a running one over its control socket (src/fuse/control_channel.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuse/mount_options.h"
#include "fuse/mount_session.h"
#include "fuse/spool.h"
#include "tools/netfs/commands.h"
#include "tools/netfs/man_page.h"
#include "tools/netfs/mount_wiring.h"
#include "tools/netfs/schemes.h"

int main(int argc, char** argv) {
  const char* base = std::strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  if (std::strcmp(base, "mount.netfs") == 0) return netfs::cli::mount_helper_main(argc, argv);

  CLI::App app{"netfs: a network filesystem over 9P2000.L (see docs/fuse.md)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("netfs ") + NETFS_VERSION);
  app.footer("Exit status: 0 success, 1 runtime failure (server, export, mountpoint, unwritten data), 2 usage error.");
  bool man = false;
  app.add_flag("--man", man, "print the netfs(1) manual page (roff)")->group("");  // for the build

  netfs::fuse::MountRequest mreq;
  std::vector<std::string> mopts;
  auto* mount = app.add_subcommand("mount", "mount 9p://[USER@]HOST:PORT/EXPORT on MOUNTPOINT");
  mount->add_option("remote", mreq.remote, netfs::cli::scheme_forms())->required();
  mount->add_option("mountpoint", mreq.mountpoint, "an existing directory")->required();
  mount->add_option("-o,--options", mopts, "comma-separated mount options, listed below");
  mount->add_flag("-f,--foreground", mreq.foreground, "stay in the foreground");
  mount->footer(netfs::fuse::mount_options_help());

  std::string mp;
  auto* umount = app.add_subcommand("umount", "write back all dirty data, then unmount");
  umount->alias("unmount");
  umount->add_option("mountpoint", mp)->required();

  bool json = false, prometheus = false;
  std::string watch;
  long count = 0;
  auto* stats = app.add_subcommand("stats", "print the mount's counters (docs/fuse.md lists them)");
  stats->add_flag("--json", json, "one flat JSON object, each counter once as group_field");
  stats->add_flag("--prometheus", prometheus,
                  "Prometheus text format for node_exporter's textfile collector: netfs_group_field, "
                  "counters with _total, label mountpoint");
  auto* watch_opt = stats->add_option("--watch", watch,
                                      "every SECONDS (optional, default 1) a line like iostat's: read, write, "
                                      "upload and download MiB/s, 9P RPCs/s, dirty MiB; until interrupted")
                        ->expected(0, 1)
                        ->type_name("[SECONDS]");
  stats->add_option("--count", count, "with --watch: stop after N lines")->check(CLI::PositiveNumber)->type_name("N");
  stats->add_option("mountpoint", mp);

  bool no_follow = false;
  auto* trace = app.add_subcommand("trace", "print recent trace events and follow new ones");
  trace->add_flag("-n,--no-follow", no_follow, "print what is recorded and exit");
  trace->footer(
      "Each line is one event of the engine's in-memory ring (docs/ARCHITECTURE.md, Trace):\n"
      "  TIME KIND EVENT R=REQ S=SUB sSTREAM Q=FOLIOQ pos=POS len=LEN v=VALUE [ino=INO [PATH]]\n"
      "TIME: seconds on the daemon's monotonic clock. KIND: R request, S subrequest, FQ folio\n"
      "queue, F folio, P9 connection. REQ: request id (hex), the same on every line of one\n"
      "request. SUB: subrequest index within it. STREAM: 0 the server, 1 the local cache.\n"
      "POS, LEN: file offset and length (hex). VALUE: per event: R ALLOC the origin (0\n"
      "readahead, 1 read_folio, 2 read_single, 3 unbuffered read, 4 writeback, 5 writethrough,\n"
      "6 unbuffered write, 7 write_single); S DONE, S SHORT bytes moved; S FAIL the error;\n"
      "R DONE the request's result. INO: the mount's FUSE inode number of the file (not\n"
      "st_ino, which is the server's), on every line of a request, its subrequests and folios.\n"
      "PATH: one name of that file from the mount's root, when the mount knows one (not after\n"
      "the kernel forgot the file; a file with hard links: one of them); a control character\n"
      "or \\ in it is written \\xHH.");
  trace->add_option("mountpoint", mp)->required();

  bool drop = false;
  auto* cachecmd = app.add_subcommand("cache", "the local cache of a mount or of a cache directory");
  cachecmd->add_flag("--drop", drop, "empty it");
  bool cache_json = false;
  cachecmd->add_flag("--json", cache_json, "one JSON object instead of a summary for people");
  std::string new_key;
  cachecmd->add_option("--new-key", new_key, "write a fresh random key for -o cache_key to FILE (mode 0600)");
  cachecmd->add_option("target", mp, "MOUNTPOINT or cache DIR");

  std::string spool_dir;
  auto* spoolcmd = app.add_subcommand("spool", "dirty data saved at a daemon's exit, waiting for the next mount");
  spoolcmd->add_option("dir", spool_dir, "a spool directory, or a cache directory (default: " +
                                             netfs::fuse::default_spool_dir() + ")");
  std::string spool_key;
  spoolcmd->add_option("--key", spool_key,
                       "the cache_key FILE of the mount that saved them: without it, entries an encrypted "
                       "cache sealed are only counted");

  if (argc == 2 && std::strcmp(argv[1], "--man") == 0) {  // no subcommand needed
    fputs(netfs::cli::man_page(NETFS_VERSION).c_str(), stdout);
    return 0;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints help, the version or the error; its own codes (106, 109, ...) are not
    // the convention: every usage error is 2.
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  if (*mount) {
    for (const auto& o : mopts) mreq.options += (mreq.options.empty() ? "" : ",") + o;
    mreq.build = netfs::cli::build_mount;
    return netfs::fuse::run_mount(mreq);
  }
  if (*umount) return netfs::cli::cmd_umount(mp);
  if (*stats) {
    double every = 0;
    if (watch_opt->count()) {
      // `--watch MOUNTPOINT` takes the mountpoint as the option's value: then it is that.
      char* end = nullptr;
      every = watch.empty() ? 1 : std::strtod(watch.c_str(), &end);
      if (!watch.empty() && (*end || every <= 0)) {
        if (!mp.empty() || *end == 0) {
          fprintf(stderr, "netfs stats: --watch takes a number of seconds > 0, not '%s'\n", watch.c_str());
          return 2;
        }
        mp = watch;
        every = 1;
      }
    }
    if (mp.empty()) {
      fprintf(stderr, "netfs stats: MOUNTPOINT is required\n");
      return 2;
    }
    if (json + prometheus + (every > 0) > 1) {
      fprintf(stderr, "netfs stats: --json, --prometheus and --watch exclude each other\n");
      return 2;
    }
    auto format = json ? netfs::cli::StatsFormat::kJson
                       : prometheus ? netfs::cli::StatsFormat::kPrometheus : netfs::cli::StatsFormat::kText;
    return netfs::cli::cmd_stats(mp, format, every, count);
  }
  if (*trace) return netfs::cli::cmd_trace(mp, !no_follow);
  if (*cachecmd) {
    if (!new_key.empty()) return netfs::cli::cmd_new_cache_key(new_key);
    if (mp.empty()) {
      fprintf(stderr, "netfs cache: a MOUNTPOINT or cache DIR is required (or --new-key FILE)\n");
      return 2;
    }
    return netfs::cli::cmd_cache(mp, drop, cache_json);
  }
  if (*spoolcmd) return netfs::cli::cmd_spool(spool_dir, spool_key);
  return 2;
}
