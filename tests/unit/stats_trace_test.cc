#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>

#include "netfs/stats.h"
#include "netfs/trace.h"

namespace netfs {
namespace {

TEST(Stats, TextAndJsonCarryEveryCounter) {
  Stats s;
  bump(s.upload_subreqs, 3);
  bump(s.upload_bytes, 12288);
  bump(s.write_retry_subreq, 2);
  gauge_add(s.mem_dirty_bytes, 4096);
  std::string text = s.format_text();
  EXPECT_NE(text.find("Upload   : subreqs=3 bytes=12288"), std::string::npos) << text;
  // One line per group, even where a group's fields are not adjacent in the lists (write
  // and mem are split); that line carries all of them.
  for (const char* label : {"Req      :", "Write    :", "Upload   :", "Cache    :", "Download :", "Read     :",
                            "Mem      :", "Wb       :", "Flusher  :", "Objs     :"}) {
    size_t at = text.find(label);
    EXPECT_NE(at, std::string::npos) << label << " in " << text;
    EXPECT_EQ(text.find(label, at + 1), std::string::npos) << label << " twice in " << text;
  }
  EXPECT_NE(text.find("flush_conflict=0 retry_req=0 retry_subreq=2 abandoned=0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("invalidated=0 resident_bytes=0 dirty_bytes=4096"), std::string::npos) << text;
  std::string json = s.format_json();
  for (const char* k : {"\"upload_subreqs\":3", "\"upload_bytes\":12288", "\"write_retry_subreq\":2",
                        "\"mem_dirty_bytes\":4096", "\"download_subreqs\":0", "\"cache_read_bytes\":0",
                        "\"cache_write_bytes\":0", "\"cache_read_subreqs\":0",
                        "\"download_bytes\":0", "\"upload_short\":0"})
    EXPECT_NE(json.find(k), std::string::npos) << k << " in " << json;
  // Each counter once: the old aliases (dirty_bytes next to mem_dirty_bytes, ...) are gone.
  for (const char* k : {"\"dirty_bytes\"", "\"upload_subrequests\"", "\"retried_subrequests\"", "\"reconnects\""})
    EXPECT_EQ(json.find(k), std::string::npos) << k << " in " << json;
}

TEST(Trace, RingKeepsNewestRecordsInOrder) {
  Trace t(8);
  for (int i = 0; i < 20; i++) t.emit(TraceReason::k_sreq_issue, 0, 7, uint16_t(i), 0, 0, uint64_t(i), 1, 0);
  auto recs = t.snapshot();
  ASSERT_EQ(recs.size(), 8u);
  EXPECT_EQ(recs.front().sreq, 12);
  EXPECT_EQ(recs.back().sreq, 19);
  auto newer = t.snapshot(recs[5].seq);
  EXPECT_EQ(newer.size(), 2u);
  EXPECT_NE(recs[0].format().find("S   ISSUE"), std::string::npos);
}

TEST(Trace, ALineNamesTheInodeOnlyWhenTheRecordHasOne) {
  Trace t(4);
  t.emit(TraceReason::k_rreq_alloc, 42, 1, 0, 0, 0, 0, 4096, 4);
  t.emit(TraceReason::k_backend_up, 0, 0, 0, 0, 0, 0, 0, 0);
  auto recs = t.snapshot();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].ino, 42u);
  EXPECT_TRUE(recs[0].format().ends_with(" v=4 ino=42")) << recs[0].format();
  EXPECT_EQ(recs[1].format().find("ino="), std::string::npos) << recs[1].format();
}

}  // namespace
}  // namespace netfs

namespace netfs {
namespace {

// tools/netfs.bt names reasons by number; it must follow NETFS_TRACE_REASONS.
TEST(Trace, BpftraceScriptLabelsFollowTheReasonList) {
  std::ifstream in(std::string(NETFS_SOURCE_DIR) + "/tools/netfs.bt");
  ASSERT_TRUE(in.good());
  std::regex line(R"re(@reason\[(\d+)\] = "([^"]*)";)re");
  std::string l;
  size_t seen = 0;
  while (std::getline(in, l)) {
    std::smatch m;
    if (!std::regex_search(l, m, line)) continue;
    int n = std::stoi(m[1]);
    EXPECT_EQ(m[2].str(), trace_label(static_cast<TraceReason>(n))) << "reason " << n;
    seen++;
  }
#define NETFS_COUNT(name, kind, label) +1
  EXPECT_EQ(seen, size_t{0 NETFS_TRACE_REASONS(NETFS_COUNT)});
#undef NETFS_COUNT
}

}  // namespace
}  // namespace netfs
