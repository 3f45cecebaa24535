// netfs: the command a person types. `netfs mount` starts a mount daemon; umount, stats
// trace and cache talk to a running one over its control socket (src/fuse/control_channel.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fuse/mount_options.h"
#include "fuse/mount_session.h"
#include "fuse/spool.h"
#include "tools/netfs/commands.h"
#include "tools/netfs/man_page.h"

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
  mount->add_option("remote", mreq.remote, "9p://[USER@]HOST[:PORT]/EXPORT or 9p+unix:///SOCKET/EXPORT")->required();
  mount->add_option("mountpoint", mreq.mountpoint, "an existing directory")->required();
  mount->add_option("-o,--options", mopts, "comma-separated mount options, listed below");
  mount->add_flag("-f,--foreground", mreq.foreground, "stay in the foreground");
  mount->footer(netfs::fuse::mount_options_help());

  std::string mp;
  auto* umount = app.add_subcommand("umount", "write back all dirty data, then unmount");
  umount->alias("unmount");
  umount->add_option("mountpoint", mp)->required();

  bool json = false;
  auto* stats = app.add_subcommand("stats", "print the mount's counters");
  stats->add_flag("--json", json, "one JSON object");
  stats->add_option("mountpoint", mp)->required();

  bool no_follow = false;
  auto* trace = app.add_subcommand("trace", "print recent trace events and follow new ones");
  trace->add_flag("-n,--no-follow", no_follow, "print what is recorded and exit");
  trace->add_option("mountpoint", mp)->required();

  bool drop = false;
  auto* cachecmd = app.add_subcommand("cache", "the local cache of a mount or of a cache directory");
  cachecmd->add_flag("--drop", drop, "empty it");
  cachecmd->add_option("target", mp, "MOUNTPOINT or cache DIR")->required();

  std::string spool_dir;
  auto* spoolcmd = app.add_subcommand("spool", "dirty data saved at a daemon's exit, waiting for the next mount");
  spoolcmd->add_option("dir", spool_dir, "a spool directory, or a cache directory (default: " +
                                             netfs::fuse::default_spool_dir() + ")");

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
    return netfs::fuse::run_mount(mreq);
  }
  if (*umount) return netfs::cli::cmd_umount(mp);
  if (*stats) return netfs::cli::cmd_stats(mp, json);
  if (*trace) return netfs::cli::cmd_trace(mp, !no_follow);
  if (*cachecmd) return netfs::cli::cmd_cache(mp, drop);
  if (*spoolcmd) return netfs::cli::cmd_spool(spool_dir);
  return 2;
}
