// `netfs trace` on a real mount names the file each request was for (issue 11): the
// write-back of a file written under a directory carries its inode number and its path
// on every line of the request.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

class TraceMount : public MountFixture {
 protected:
  // Writes n bytes to the file and fsyncs it, so its write-back request is in the ring.
  void write_and_fsync(const std::string& file, size_t n) {
    auto data = random_bytes(n, 11);
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0) << file << ": " << strerror(errno);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ASSERT_EQ(::fsync(fd), 0);
    ASSERT_EQ(::close(fd), 0);
  }

  // The lines of `netfs trace --no-follow` for each request id whose R ALLOC line has a
  // write origin (4 writeback, 5 writethrough, 6 unbuffered write).
  std::map<std::string, std::vector<std::string>> write_requests() {
    auto r = netfs({"trace", "--no-follow", mnt_});
    EXPECT_EQ(r.status, 0) << r.output;
    std::regex id(R"( R=([0-9a-f]{8}) )");
    std::regex write_alloc(R"(R   ALLOC .* v=[456]( |$))");
    std::set<std::string> writes;
    std::map<std::string, std::vector<std::string>> by_id;
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, id)) continue;
      by_id[m[1]].push_back(line);
      if (std::regex_search(line, write_alloc)) writes.insert(m[1]);
    }
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& w : writes) out[w] = by_id[w];
    return out;
  }
};

TEST_F(TraceMount, AWriteRequestNamesItsFile) {
  ASSERT_TRUE(mount());
  ASSERT_EQ(::mkdir(path("reports").c_str(), 0755), 0);
  write_and_fsync(path("reports/march 2026.csv"), 300000);
  auto writes = write_requests();
  ASSERT_FALSE(writes.empty()) << "no write request in the trace";
  std::regex named(R"( ino=(\d+) /reports/march 2026\.csv$)");
  std::set<std::string> inos;
  for (const auto& [id, lines] : writes) {
    bool issued = false;
    for (const auto& line : lines) {
      std::smatch m;
      EXPECT_TRUE(std::regex_search(line, m, named)) << line;
      if (!m.empty()) inos.insert(m[1]);
      issued |= line.find("S   ISSUE") != std::string::npos;
    }
    EXPECT_TRUE(issued) << "request " << id << " has no subrequest line";
  }
  EXPECT_EQ(inos.size(), 1u) << "one file, one inode number";
}

TEST_F(TraceMount, ANameThatWouldBreakTheLineIsEscaped) {
  ASSERT_TRUE(mount());
  write_and_fsync(path("two\nlines\\x"), 70000);
  auto writes = write_requests();
  ASSERT_FALSE(writes.empty()) << "no write request in the trace";
  for (const auto& [id, lines] : writes)
    for (const auto& line : lines) EXPECT_TRUE(line.ends_with(" /two\\x0alines\\x5cx")) << line;
}

}  // namespace
}  // namespace netfs::testing
