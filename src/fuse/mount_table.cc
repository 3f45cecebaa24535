#include "fuse/mount_table.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace netfs::fuse {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() + 0 && isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::optional<MountEntry> mount_at(const std::string& path) {
  // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS".
  // Mounts stacked on one path are listed in mount order: the last one is on top.
  std::ifstream in("/proc/self/mountinfo");
  std::optional<MountEntry> found;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, mp, opts, field;
    ls >> id >> parent >> devno >> root >> mp >> opts;
    if (unescape_mountinfo(mp) != path) continue;
    while (ls >> field && field != "-") {
    }
    MountEntry e;
    e.mountpoint = path;
    ls >> e.fstype >> e.source;
    e.fstype = unescape_mountinfo(e.fstype);
    e.source = unescape_mountinfo(e.source);
    found = std::move(e);
  }
  return found;
}

}  // namespace netfs::fuse
