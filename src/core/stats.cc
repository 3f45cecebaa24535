#include "netfs/stats.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>
#include <vector>

namespace netfs {

namespace {

struct Entry {
  const char* group;
  const char* field;
  int64_t value;
};

std::vector<Entry> entries(const Stats& s) {
  std::vector<Entry> v;
#define NETFS_STATS_ENTRY(group, field) \
  v.push_back({#group, #field, static_cast<int64_t>(read(s.group##_##field))});
  NETFS_STATS_COUNTERS(NETFS_STATS_ENTRY)
  NETFS_STATS_GAUGES(NETFS_STATS_ENTRY)
#undef NETFS_STATS_ENTRY
  return v;
}

// "short_" is spelled with an underscore only because `short` is a keyword.
std::string field_name(const char* f) {
  std::string s = f;
  if (!s.empty() && s.back() == '_') s.pop_back();
  return s;
}

}  // namespace

std::string Stats::format_text() const {
  // One line per group, in the order groups first appear. A group's fields need not be
  // adjacent in the lists (write's retry counters sit with read's; mem has counters and
  // gauges), so gather them first: printing on each change of group gave such a group
  // two lines.
  std::vector<std::pair<std::string, std::string>> lines;  // group, its fields
  for (const Entry& e : entries(*this)) {
    auto it = std::find_if(lines.begin(), lines.end(), [&](const auto& l) { return l.first == e.group; });
    if (it == lines.end()) it = lines.insert(lines.end(), {e.group, ""});
    it->second += " " + field_name(e.field) + "=" + std::to_string(e.value);
  }
  std::ostringstream out;
  for (const auto& [group, fields] : lines) {
    std::string label = group;
    label[0] = static_cast<char>(toupper(label[0]));
    label.resize(9, ' ');
    out << label << ":" << fields << "\n";
  }
  return out.str();
}

std::string Stats::format_json() const {
  std::ostringstream out;
  out << "{";
  bool first = true;
  auto put = [&](const std::string& k, int64_t v) {
    out << (first ? "" : ",") << "\"" << k << "\":" << v;
    first = false;
  };
  for (const Entry& e : entries(*this)) put(std::string(e.group) + "_" + field_name(e.field), e.value);
  // Flat aliases with the names `netfs stats --json` documents.
  put("upload_subrequests", static_cast<int64_t>(read(upload_subreqs)));
  put("download_subrequests", static_cast<int64_t>(read(download_subreqs)));
  put("cache_read_subrequests", static_cast<int64_t>(read(cache_read_subreqs)));
  put("retried_subrequests", static_cast<int64_t>(read(write_retry_subreq) + read(read_retry_subreq)));
  put("reconnects", static_cast<int64_t>(read(client_reconnects)));
  put("dirty_bytes", read(mem_dirty_bytes));
  out << "}";
  return out.str();
}

}  // namespace netfs
