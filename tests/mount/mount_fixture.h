// MountFixture: a real diod on a free 127.0.0.1 port and a real FUSE mount of it made by
// the built `netfs` binary, for tests that use the mount as any program would. Teardown
// unmounts (netfs umount, then fusermount3 -u -z if that failed) and stops diod by PID,
// also when a test failed halfway.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <memory>
#include <string>
#include <vector>

#include "integration/diod_server.h"

namespace netfs::testing {

struct RunResult {
  int status = -1;  // exit code, or -1 if it did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs argv (no shell), capturing its output.
RunResult run(const std::vector<std::string>& argv);
// Runs a shell command line in dir (for tests that drive real tools: tar, git, ...).
RunResult sh(const std::string& cmd);

class MountFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Mounts with -o opts; false (with the output in *out) when netfs mount failed.
  bool mount(const std::string& opts = "", std::string* out = nullptr);
  RunResult netfs(const std::vector<std::string>& args);
  std::string url() const;
  std::string path(const std::string& rel) const { return mnt_ + "/" + rel; }
  std::string server_path(const std::string& rel) const { return diod_->dir() + "/" + rel; }
  // One counter from `netfs stats --json`.
  uint64_t stat(const std::string& key);

  std::unique_ptr<DiodServer> diod_;
  std::string work_;
  std::string mnt_;
  bool mounted_ = false;
};

// Test data and its read-back, shared by the mount tests.
inline std::vector<char> random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<char> v(n);
  for (auto& c : v) c = static_cast<char>(rng());
  return v;
}

inline std::vector<char> slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace netfs::testing
