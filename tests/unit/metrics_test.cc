// Metrics printers: every sample appears exactly once in the text, the JSON and the
// Prometheus output, under the name derived from its group and field; the JSON is one
// flat object; Prometheus lines follow the text exposition format.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "netfs/metrics.h"
#include "netfs/stats.h"
#include "p9/client_stats.h"

namespace netfs {
namespace {

Metrics sample() {
  Stats s;
  bump(s.upload_bytes, 12288);
  gauge_add(s.mem_dirty_bytes, -5);  // a gauge may dip below zero for a moment
  p9::ClientStats c;
  c.bump(c.negative_lookups, 2);
  Metrics m;
  s.collect(m);
  c.collect(m);
  return m;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) n++;
  return n;
}

TEST(Metrics, EveryNameIsUnique) {
  std::set<std::string> seen;
  for (const Metric& m : sample()) EXPECT_TRUE(seen.insert(json_key(m)).second) << json_key(m) << " twice";
  EXPECT_GT(seen.size(), 60u);
}

TEST(Metrics, JsonIsOneFlatObjectWithEachCounterOnce) {
  Metrics ms = sample();
  std::string json = metrics_json(ms);
  static const std::regex flat(R"(^\{"[a-z0-9_]+":-?[0-9]+(,"[a-z0-9_]+":-?[0-9]+)*\}\n$)");
  EXPECT_TRUE(std::regex_match(json, flat)) << json;
  for (const Metric& m : ms) EXPECT_EQ(count(json, "\"" + json_key(m) + "\":"), 1u) << json_key(m);
  EXPECT_EQ(count(json, "\":"), ms.size());
  EXPECT_NE(json.find("\"upload_bytes\":12288"), std::string::npos);
  EXPECT_NE(json.find("\"mem_dirty_bytes\":-5"), std::string::npos);
  EXPECT_NE(json.find("\"p9_negative_lookups\":2"), std::string::npos);
}

TEST(Metrics, TextHasOneLinePerGroupAndEachFieldOnce) {
  Metrics ms = sample();
  std::string text = metrics_text(ms);
  std::map<std::string, std::string> lines;  // group -> its line
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    auto colon = l.find(':');
    ASSERT_NE(colon, std::string::npos) << l;
    std::string g = l.substr(0, l.find(' '));
    g[0] = static_cast<char>(tolower(g[0]));
    EXPECT_TRUE(lines.emplace(g, l.substr(colon + 1) + " ").second) << g << " twice in " << text;
  }
  size_t fields = 0;
  for (const Metric& m : ms) {
    ASSERT_TRUE(lines.count(m.group)) << m.group << " in " << text;
    EXPECT_EQ(count(lines[m.group], " " + m.field + "="), 1u) << m.group << "." << m.field;
    fields++;
  }
  size_t printed = 0;
  for (auto& [g, l] : lines) printed += count(l, "=");
  EXPECT_EQ(printed, fields);
  EXPECT_NE(text.find("P9       : rpcs=0"), std::string::npos) << text;
}

TEST(Metrics, PrometheusHasHelpTypeAndOneSampleEach) {
  Metrics ms = sample();
  std::string out = metrics_prometheus(ms, "mountpoint=\"" + prometheus_escape("/mnt/a \"b\"\\c") + "\"");
  static const std::regex line(
      R"(^(# HELP netfs_[a-z0-9_]+ [^\n]+|# TYPE netfs_[a-z0-9_]+ (counter|gauge)|netfs_[a-z0-9_]+\{mountpoint="/mnt/a \\"b\\"\\\\c"\} -?[0-9]+)$)");
  std::istringstream in(out);
  size_t n = 0;
  for (std::string l; std::getline(in, l); n++) EXPECT_TRUE(std::regex_match(l, line)) << l;
  EXPECT_EQ(n, 3 * ms.size());
  for (const Metric& m : ms) {
    std::string name = prometheus_name(m);
    EXPECT_EQ(name, "netfs_" + m.group + "_" + m.field + (m.gauge ? "" : "_total"));
    EXPECT_EQ(count(out, "# HELP " + name + " "), 1u) << name;
    EXPECT_EQ(count(out, "# TYPE " + name + (m.gauge ? " gauge\n" : " counter\n")), 1u) << name;
    EXPECT_EQ(count(out, "\n" + name + "{"), 1u) << name;
  }
  EXPECT_NE(out.find("netfs_upload_bytes_total{mountpoint=\"/mnt/a \\\"b\\\"\\\\c\"} 12288\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("netfs_mem_dirty_bytes{"), std::string::npos);
}

}  // namespace
}  // namespace netfs
