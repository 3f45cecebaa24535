#include "netfs/stats.h"

namespace netfs {

namespace {

// "short_" is spelled with an underscore only because `short` is a keyword.
std::string field_name(const char* f) {
  std::string s = f;
  if (!s.empty() && s.back() == '_') s.pop_back();
  return s;
}

}  // namespace

void Stats::collect(Metrics& m) const {
#define NETFS_STATS_COUNTER(group, field, help) \
  m.push_back({#group, field_name(#field), false, help, read(group##_##field)});
#define NETFS_STATS_GAUGE(group, field, help) \
  m.push_back({#group, field_name(#field), true, help, static_cast<uint64_t>(read(group##_##field))});
  NETFS_STATS_COUNTERS(NETFS_STATS_COUNTER)
  NETFS_STATS_GAUGES(NETFS_STATS_GAUGE)
#undef NETFS_STATS_COUNTER
#undef NETFS_STATS_GAUGE
}

std::string Stats::format_text() const {
  Metrics m;
  collect(m);
  return metrics_text(m);
}

std::string Stats::format_json() const {
  Metrics m;
  collect(m);
  return metrics_json(m);
}

}  // namespace netfs
