// A fresh cache directory per test, and helpers to open a Store on it, reopen it (a
// remount) and reach its files (to corrupt them as a crash or a bad disk would).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cache/store.h"
#include "cache/store_cookie.h"

namespace netfs::cache::testing {

inline std::vector<std::byte> random_bytes(size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  std::mt19937 g(seed);
  for (auto& b : v) b = static_cast<std::byte>(g());
  return v;
}

class StoreTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kG = 64 * 1024;
  void SetUp() override {
    char tmpl[] = "/tmp/netfs-cache-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open_store(uint64_t limit = 1ull << 30) {
    auto s = try_open_store(limit);
    ASSERT_TRUE(s.ok()) << s.error().message();
    store_ = std::move(*s);
  }
  Result<std::unique_ptr<Store>> try_open_store(uint64_t limit = 1ull << 30) {
    StoreOptions o;
    o.key_file = key_file_;
    o.refuse_mismatch = refuse_mismatch_;
    o.dir = dir_;
    o.size_limit = limit;
    o.min_free = 1;  // the test machine's free space is not the subject
    o.granule = kG;
    o.janitor = false;
    o.gather_limit = gather_limit_;
    return Store::open(o);
  }
  std::shared_ptr<StoreCookie> cookie(uint64_t qid, Coherency c = {1, 2, 3, 0}) {
    auto r = store_->cookie("9p://127.0.0.1:564/srv", qid, c);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : nullptr;
  }
  // The object's file with this suffix (".data", ".map").
  std::string object_file(const std::string& suffix) {
    for (auto& sd : std::filesystem::directory_iterator(dir_ + "/objects"))
      for (auto& f : std::filesystem::directory_iterator(sd.path()))
        if (f.path().extension() == suffix) return f.path().string();
    return "";
  }

  uint64_t gather_limit_ = 64ull << 20;
  std::string dir_;
  std::string key_file_;  // "": a plain cache
  bool refuse_mismatch_ = false;
  std::unique_ptr<Store> store_;
};

}  // namespace netfs::cache::testing
