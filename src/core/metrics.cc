#include "netfs/metrics.h"

#include <algorithm>
#include <cctype>

namespace netfs {

namespace {

std::string value_text(const Metric& m) {
  return m.gauge ? std::to_string(static_cast<int64_t>(m.value)) : std::to_string(m.value);
}

}  // namespace

std::string json_key(const Metric& m) { return m.group + "_" + m.field; }

std::string prometheus_name(const Metric& m) {
  // Counters end in _total, as Prometheus' naming rules ask.
  return "netfs_" + m.group + "_" + m.field + (m.gauge ? "" : "_total");
}

std::string metrics_text(const Metrics& ms) {
  // One line per group, in the order groups first appear; a group's samples need not be
  // adjacent in the list (mem has counters and gauges), so gather them first.
  std::vector<std::pair<std::string, std::string>> lines;  // group, its fields
  for (const Metric& m : ms) {
    auto it = std::find_if(lines.begin(), lines.end(), [&](const auto& l) { return l.first == m.group; });
    if (it == lines.end()) it = lines.insert(lines.end(), {m.group, ""});
    it->second += " " + m.field + "=" + value_text(m);
  }
  std::string out;
  for (const auto& [group, fields] : lines) {
    std::string label = group;
    label[0] = static_cast<char>(toupper(static_cast<unsigned char>(label[0])));
    label.resize(std::max<size_t>(9, label.size()), ' ');
    out += label + ":" + fields + "\n";
  }
  return out;
}

std::string metrics_json(const Metrics& ms) {
  std::string out = "{";
  for (const Metric& m : ms) out += (out.size() > 1 ? ",\"" : "\"") + json_key(m) + "\":" + value_text(m);
  return out + "}\n";
}

std::string prometheus_escape(std::string_view v) {
  std::string s;
  for (char c : v) {
    if (c == '\\' || c == '"') s.push_back('\\');
    if (c == '\n') {
      s += "\\n";
      continue;
    }
    s.push_back(c);
  }
  return s;
}

std::string metrics_prometheus(const Metrics& ms, std::string_view labels) {
  std::string out;
  for (const Metric& m : ms) {
    std::string name = prometheus_name(m);
    std::string help = m.help.empty() ? m.group + " " + m.field : m.help;
    // HELP text escapes only backslash and newline.
    std::string h;
    for (char c : help) h += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
    out += "# HELP " + name + " " + h + "\n";
    out += "# TYPE " + name + (m.gauge ? " gauge\n" : " counter\n");
    out += name + "{" + std::string(labels) + "} " + value_text(m) + "\n";
  }
  return out;
}

}  // namespace netfs
