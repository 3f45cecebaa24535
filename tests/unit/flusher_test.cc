#include <gtest/gtest.h>

#include <thread>

#include "fakes/eventually.h"
#include "write_fixture.h"

namespace netfs::testing {
namespace {

using FlusherTest = WriteFixture;

TEST_F(FlusherTest, WritesBackDataOlderThanTheDelay) {
  Options o;
  o.writeback_delay = std::chrono::milliseconds(30);
  make(o);
  Flusher flusher(*engine_);
  auto data = pattern(100000, 1);
  auto t0 = std::chrono::steady_clock::now();
  write(0, data);
  // The flusher counts its write-back after writepages returns, and the collector (on a
  // WorkQueue thread) clears the dirty bytes: each is waited for on its own.
  ASSERT_TRUE(eventually([&] { return read(stats().flusher_age_writebacks) >= 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
  ASSERT_TRUE(eventually([&] { return engine_->dirty_bytes() == 0; }));
  EXPECT_EQ(server(), data);
}

TEST_F(FlusherTest, ThrottlesWritersAtTheDirtyLimit) {
  Options o;
  o.writeback_delay = std::chrono::hours(1);  // only the limit can trigger write-back
  o.dirty_limit = 1 << 20;
  MemoryBackend::Config bc;
  bc.async = true;
  make(o, bc);
  Flusher flusher(*engine_);
  auto data = pattern(8 << 20, 2);
  for (size_t off = 0; off < data.size(); off += 65536) {
    auto r = perform_write(*inode_, off, data.data() + off, 65536);
    ASSERT_TRUE(r.ok());
    EXPECT_LE(engine_->dirty_bytes(), (1u << 20) + 2 * 65536u);
  }
  EXPECT_GE(read(stats().write_throttled), 1u);
  EXPECT_GE(read(stats().flusher_limit_writebacks), 1u);
  ASSERT_TRUE(sync().ok());
  EXPECT_EQ(server(), data);
}

TEST_F(FlusherTest, ThrottledWriterGetsTheErrorWhenWritebackKeepsFailing) {
  Options o;
  o.dirty_limit = 256 * 1024;
  make(o);
  backend_->set_fault_fn([](const Call&) {
    Fault f;
    f.kind = Fault::kError;
    f.errnum = EDQUOT;
    return f;
  });
  auto data = pattern(1 << 20, 3);
  Status last;
  size_t written = 0;
  for (size_t off = 0; off < data.size(); off += 65536) {
    auto r = perform_write(*inode_, off, data.data() + off, 65536);
    if (!r.ok()) {
      last = r.error();
      break;
    }
    written += *r;
  }
  EXPECT_EQ(last.errnum(), EDQUOT);
  EXPECT_EQ(engine_->dirty_bytes(), written);  // everything accepted is still held
}

}  // namespace
}  // namespace netfs::testing
