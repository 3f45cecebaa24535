// A fixture for write-path tests: an Engine with no backoff, an in-memory backend and one
// inode, plus helpers to write patterns and compare the backend's bytes.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <vector>

#include "fakes/memory_backend.h"
#include "fakes/memory_cookie.h"
#include "fakes/pattern.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/write.h"

namespace netfs::testing {

class WriteFixture : public ::testing::Test {
 protected:
  void make(Options o = {}, MemoryBackend::Config bc = {}, bool cookie = false) {
    o.retry_backoff = std::chrono::milliseconds(0);
    inode_.reset();
    engine_.reset();
    backend_ = std::make_unique<MemoryBackend>(bc);
    engine_ = std::make_unique<Engine>(o);
    if (cookie) cookie_ = std::make_unique<MemoryCookie>();
    inode_ = engine_->new_inode(*backend_, 1, 0, cookie_.get());
  }
  void SetUp() override { make(); }
  void TearDown() override {
    if (backend_) backend_->drain();
    inode_.reset();
    engine_.reset();  // joins workers; cleanup of requests has run
  }
  void write(uint64_t pos, const std::vector<std::byte>& data, WriteMode mode = WriteMode::kWriteBack) {
    auto r = perform_write(*inode_, pos, data.data(), data.size(), mode);
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_EQ(*r, data.size());
  }
  Status sync() { return fsync(*inode_, cursor_); }
  std::vector<std::byte> server() { return backend_->contents(1); }
  Stats& stats() { return engine_->stats(); }

  std::unique_ptr<MemoryBackend> backend_;
  std::unique_ptr<MemoryCookie> cookie_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Inode> inode_;
  Errseq::Cursor cursor_ = 0;
};

}  // namespace netfs::testing
