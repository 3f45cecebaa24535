// `netfs stats` against a real mount: the text, JSON and Prometheus formats carry the
// same counters, each exactly once; the JSON is one flat object; a walk to a missing name
// is a negative lookup, not an error; --watch prints rates per interval.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

class Stats : public MountFixture {};

// "group.field" of each "Group    : field=value ..." line.
std::multiset<std::string> text_names(const std::string& text) {
  std::multiset<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string group = line.substr(0, line.find(' '));
    group[0] = static_cast<char>(tolower(group[0]));
    std::istringstream f(line.substr(colon + 1));
    for (std::string kv; f >> kv;) out.insert(group + "_" + kv.substr(0, kv.find('=')));
  }
  return out;
}

TEST_F(Stats, TextJsonAndPrometheusCarryEachCounterOnce) {
  ASSERT_TRUE(mount());
  {
    std::ofstream(path("f")) << "some data";
  }
  auto text = netfs({"stats", mnt_});
  auto json = netfs({"stats", "--json", mnt_});
  auto prom = netfs({"stats", "--prometheus", mnt_});
  ASSERT_EQ(text.status, 0) << text.output;
  ASSERT_EQ(json.status, 0) << json.output;
  ASSERT_EQ(prom.status, 0) << prom.output;

  std::multiset<std::string> names = text_names(text.output);
  ASSERT_GT(names.size(), 70u) << text.output;
  for (const auto& n : names) EXPECT_EQ(names.count(n), 1u) << n << " twice in the text";
  for (const char* n : {"p9_msize", "p9_rpcs", "p9_errors", "p9_negative_lookups", "p9_sync_rpcs",
                        "p9_calls_pending", "fuse_nodes", "mem_dirty_bytes", "upload_subreqs"})
    EXPECT_EQ(names.count(n), 1u) << n << " in " << text.output;

  // The JSON: one flat object of "name":number, the same names as the text, each once.
  static const std::regex flat(R"(^\{"[a-z0-9_]+":-?[0-9]+(,"[a-z0-9_]+":-?[0-9]+)*\}\n$)");
  ASSERT_TRUE(std::regex_match(json.output, flat)) << json.output;
  std::multiset<std::string> keys;
  static const std::regex key("\"([a-z0-9_]+)\":");
  for (auto it = std::sregex_iterator(json.output.begin(), json.output.end(), key); it != std::sregex_iterator(); ++it)
    keys.insert((*it)[1].str());
  EXPECT_EQ(keys, names);

  // Prometheus: # HELP, # TYPE and one sample per counter, labelled with the mountpoint.
  std::multiset<std::string> helps, types, samples;
  std::istringstream in(prom.output);
  static const std::regex sample("^netfs_([a-z0-9_]+)\\{mountpoint=\"([^\"]*)\"\\} -?[0-9]+$");
  static const std::regex type("^# TYPE netfs_([a-z0-9_]+) (counter|gauge)$");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (line.starts_with("# HELP netfs_")) {
      helps.insert(line.substr(13, line.find(' ', 13) - 13));
    } else if (std::regex_match(line, m, type)) {
      std::string n = m[1].str();
      // Counters end in _total (Prometheus' naming rule); the JSON name has no suffix.
      if (m[2] == "counter") {
        EXPECT_TRUE(n.ends_with("_total")) << line;
        n.resize(n.size() - 6);
      }
      types.insert(n);
    } else if (std::regex_match(line, m, sample)) {
      EXPECT_EQ(m[2].str(), mnt_) << line;
      samples.insert(m[1].str());
    } else {
      ADD_FAILURE() << "not exposition format: " << line;
    }
  }
  EXPECT_EQ(types, names);
  EXPECT_EQ(helps.size(), names.size());
  EXPECT_EQ(samples.size(), names.size());
}

TEST_F(Stats, AMissingNameIsANegativeLookupNotAnError) {
  ASSERT_TRUE(mount());
  uint64_t errors0 = stat("p9_errors"), negative0 = stat("p9_negative_lookups");
  struct stat st {};
  for (int i = 0; i < 5; i++) EXPECT_NE(::stat(path("missing-" + std::to_string(i)).c_str(), &st), 0);
  EXPECT_EQ(stat("p9_errors"), errors0);
  EXPECT_GE(stat("p9_negative_lookups") - negative0, 5u);
  // A real error still counts as one: removing a directory that is not empty.
  ASSERT_EQ(::mkdir(path("d").c_str(), 0755), 0);
  { std::ofstream(path("d/x")) << "x"; }
  EXPECT_NE(::rmdir(path("d").c_str()), 0);
  EXPECT_GT(stat("p9_errors"), errors0);
}

TEST_F(Stats, WatchPrintsALineOfRatesPerInterval) {
  // Written data stays dirty for the hour while its file is open. It is held open by a
  // child of its own: a descriptor of this process would be inherited by every netfs
  // command the test runs, and their exit closes it, which FUSE answers with a FLUSH
  // (a write-back).
  ASSERT_TRUE(mount("writeback_delay=3600s"));
  int ready[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  pid_t writer = ::fork();
  ASSERT_GE(writer, 0);
  if (writer == 0) {
    int fd = ::open(path("dirty").c_str(), O_CREAT | O_WRONLY, 0644);
    std::string mib(1 << 20, 'x');
    bool ok = fd >= 0;
    for (int i = 0; ok && i < 3; i++) ok = ::write(fd, mib.data(), mib.size()) == static_cast<ssize_t>(mib.size());
    char c = ok ? '1' : '0';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(done[0], &c, 1);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(done[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(c, '1') << "the writer could not write";
  EXPECT_EQ(stat("mem_dirty_bytes"), 3u << 20);

  auto r = netfs({"stats", "--watch", "0.1", "--count", "2", mnt_});
  ASSERT_EQ(r.status, 0) << r.output;
  std::istringstream in(r.output);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 4u) << r.output;  // two header lines, then one per interval
  EXPECT_NE(lines[0].find("rpcs/s"), std::string::npos) << r.output;
  for (int i = 2; i < 4; i++) {
    std::istringstream f(lines[i]);
    std::string time;
    double read, write, up, down, rpcs, dirty;
    ASSERT_TRUE(f >> time >> read >> write >> up >> down >> rpcs >> dirty) << lines[i];
    EXPECT_DOUBLE_EQ(dirty, 3.0) << lines[i];
    EXPECT_DOUBLE_EQ(up, 0.0) << lines[i];
  }
  // The mountpoint right after --watch is the mountpoint, at the default interval.
  r = netfs({"stats", "--count", "1", "--watch", mnt_});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 3) << r.output;
  EXPECT_NE(r.output.find(" 3.00\n"), std::string::npos) << r.output;
  r = netfs({"stats", "--json", "--watch", "1", mnt_});
  EXPECT_EQ(r.status, 2) << r.output;

  (void)!::write(done[1], "x", 1);
  ::close(done[1]);
  int st = 0;
  ASSERT_EQ(::waitpid(writer, &st, 0), writer);
}

}  // namespace
}  // namespace netfs::testing
