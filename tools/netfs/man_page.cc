#include "tools/netfs/man_page.h"

#include "fuse/mount_options.h"

namespace netfs::cli {

namespace {

// roff reads a leading '.' or '\'' as a request, and '\' and '-' need escapes.
std::string esc(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

}  // namespace

std::string man_page(const std::string& version) {
  std::string m = ".TH NETFS 1 \"\" \"netfs " + esc(version) + "\" \"User Commands\"\n";
  m += ".SH NAME\nnetfs, mount.netfs \\- mount a 9P2000.L export with a caching network filesystem engine\n";
  m += ".SH SYNOPSIS\n"
       ".B netfs mount\n9p://[USER@]HOST[:PORT]/EXPORT | 9p+unix:///SOCKET/EXPORT MOUNTPOINT\n"
       "[\\fB\\-o\\fR|\\fB\\-\\-options\\fR \\fIOPTIONS\\fR] [\\fB\\-f\\fR|\\fB\\-\\-foreground\\fR]\n.br\n"
       ".B netfs umount\nMOUNTPOINT\n.br\n"
       ".B netfs stats\n[\\fB\\-\\-json\\fR | \\fB\\-\\-prometheus\\fR | \\fB\\-\\-watch\\fR [\\fISECONDS\\fR] "
       "[\\fB\\-\\-count\\fR \\fIN\\fR]] MOUNTPOINT\n.br\n"
       ".B netfs trace\n[\\fB\\-\\-no\\-follow\\fR] MOUNTPOINT\n.br\n"
       ".B netfs cache\n[\\fB\\-\\-drop\\fR] [\\fB\\-\\-json\\fR] MOUNTPOINT|CACHE_DIR\n.br\n"
       ".B netfs cache\n\\fB\\-\\-new\\-key\\fR \\fIFILE\\fR\n.br\n"
       ".B netfs \\-\\-version\n.br\n"
       ".B mount.netfs\nSPEC DIR [\\fB\\-sfnv\\fR] [\\fB\\-o\\fR \\fIOPTIONS\\fR]\n";
  m += ".SH DESCRIPTION\n"
       "\\fBnetfs mount\\fR connects to a 9P2000.L server (such as diod), attaches the export and mounts it with "
       "FUSE; it returns when the mount is usable. \\fBnetfs umount\\fR writes back every dirty byte, then "
       "unmounts; it names each file it could not write and leaves the mount in place. "
       "\\fBmount.netfs\\fR is what \\fBmount\\fR(8) runs for \\fB\\-t netfs\\fR and fstab lines of type netfs.\n";
  m += ".SH MOUNT OPTIONS\nGiven as \\fB\\-o\\fR NAME=VALUE,FLAG,... (several \\fB\\-o\\fR are joined). "
       "Sizes take K, M, G, T (powers of 1024); durations ms or s (plain numbers are seconds).\n";
  for (const auto& s : fuse::mount_option_table()) {
    std::string_view hint = fuse::option_value_hint(s);
    m += ".TP\n.B " + esc(s.name) + (hint.empty() ? "" : "=\\fI" + esc(hint) + "\\fR") + "\n";
    m += esc(s.meaning) + ". Default: " + esc(fuse::option_default(s));
    if (std::string range = fuse::option_range(s); !range.empty()) m += "; " + esc(range);
    m += ".\n";
  }
  m += ".SH SECURITY\n"
       "Anyone who can connect to a diod started with \\fB\\-n\\fR can attach as any user. 9P carries data in "
       "clear: protect the transport with SSH (a forwarded Unix socket and \\fB9p+unix://\\fR) or a VPN. "
       "\\fBallow_other\\fR lets every local user in and turns on \\fBdefault_permissions\\fR.\n";
  m += ".SH EXIT STATUS\n0 success; 1 a runtime failure (server, export, mountpoint, unwritten data); "
       "2 a usage error.\n";
  m += ".SH SEE ALSO\n\\fBmount\\fR(8), \\fBdiod\\fR(8), \\fBmunged\\fR(8); docs/fuse.md in the documentation.\n";
  return m;
}

}  // namespace netfs::cli
