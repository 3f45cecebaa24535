// Metrics: the one list of named numbers that `netfs stats` prints, and its three
// printers (kernel-style text, one flat JSON object, Prometheus text exposition). Each
// counter set (the engine's Stats, the 9P client's, the cache store's) appends its
// samples here from its own X-macro table, and the mount adds its few gauges; every
// printer walks the same list, so a counter cannot be in one format and missing or
// renamed in another. A new counter goes into one of those tables, nowhere else.
//
// A sample's name is group.field: text prints "Group    : field=value" (one line per
// group), JSON "group_field":value, Prometheus netfs_group_field (counters with _total).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace netfs {

struct Metric {
  std::string group;
  std::string field;
  bool gauge = false;  // goes up and down; else a counter that only grows
  std::string help;    // one line, for Prometheus # HELP
  // A gauge's value is an int64_t stored in two's complement (a gauge may dip below zero
  // for a moment while threads race); a counter's is the uint64_t itself.
  uint64_t value = 0;
};

using Metrics = std::vector<Metric>;

std::string metrics_text(const Metrics& m);
std::string metrics_json(const Metrics& m);
// labels: the label set without braces, e.g. mountpoint="/mnt/x" (already escaped).
std::string metrics_prometheus(const Metrics& m, std::string_view labels);
// A Prometheus label value with \, " and newline escaped.
std::string prometheus_escape(std::string_view v);

// The JSON key and the Prometheus name of a sample.
std::string json_key(const Metric& m);
std::string prometheus_name(const Metric& m);

}  // namespace netfs
