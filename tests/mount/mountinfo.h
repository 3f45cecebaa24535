// What /proc/self/mountinfo says about one mountpoint: the per-mount flags (ro, noexec,
// nosuid, relatime, ...) and the filesystem's own options (allow_other,
// default_permissions, ...), for tests that check a mount is exactly as permissive as
// asked.
#pragma once

#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>

namespace netfs::testing {

struct MountInfo {
  std::set<std::string> flags;        // field 6: per-mount options
  std::set<std::string> super_opts;   // after " - TYPE SOURCE ": superblock options
  std::string fstype;
  std::string source;
};

inline std::set<std::string> split_commas(const std::string& s) {
  std::set<std::string> out;
  std::istringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.insert(item);
  return out;
}

// The entry whose mountpoint is mp (no escapes in test paths); nullopt when none.
inline std::optional<MountInfo> find_mount(const std::string& mp) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::optional<MountInfo> found;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, point, flags;
    ls >> id >> parent >> devno >> root >> point >> flags;
    if (point != mp) continue;
    MountInfo m;
    m.flags = split_commas(flags);
    size_t dash = line.find(" - ");
    if (dash != std::string::npos) {
      std::istringstream rest(line.substr(dash + 3));
      std::string super;
      rest >> m.fstype >> m.source >> super;
      m.super_opts = split_commas(super);
    }
    found = m;  // the last one wins: it is the one on top
  }
  return found;
}

}  // namespace netfs::testing
