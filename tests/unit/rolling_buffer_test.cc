#include "netfs/rolling_buffer.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "netfs/io_iter.h"
#include "netfs/stats.h"

namespace netfs {
namespace {

TEST(RollingBuffer, AppendAndConsumeAcrossSegments) {
  Stats st;
  RollingBuffer rb(&st, nullptr, 1);
  std::vector<Folio*> folios;
  for (int i = 0; i < 100; i++) {
    auto* f = new Folio(uint64_t(i) * 4096, 4096);
    FolioQueue* q;
    unsigned slot;
    rb.append(f, 0, 4096, &q, &slot);
    EXPECT_EQ(slot, unsigned(i) % FolioQueue::kSlots);
    folios.push_back(f);
  }
  EXPECT_EQ(read(st.objs_folioqs), 4);  // ceil(100 / 32)
  for (int i = 0; i < 100; i++) {
    FolioQueue::Slot* s = rb.peek();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->folio, folios[i]);
    Folio* f = rb.consume();
    f->put_ref();  // the buffer's reference
  }
  EXPECT_EQ(rb.peek(), nullptr);
  EXPECT_LE(read(st.objs_folioqs), 1);  // spent segments freed, the head stays
  for (Folio* f : folios) f->put_ref();
}

TEST(RollingBuffer, IteratorSpansSlotsAndSegments) {
  RollingBuffer rb(nullptr, nullptr, 1);
  std::vector<Folio*> folios;
  FolioQueue* q0 = nullptr;
  unsigned s0 = 0;
  for (int i = 0; i < 40; i++) {
    auto* f = new Folio(uint64_t(i) * 4096, 4096);
    for (int b = 0; b < 4096; b++) f->data()[b] = std::byte(i);
    FolioQueue* q;
    unsigned slot;
    rb.append(f, 100, 4096, &q, &slot);  // each slot carries 3996 bytes
    if (i == 0) q0 = q, s0 = slot;
    folios.push_back(f);
  }
  IoIter it = IoIter::folioq(q0, s0, 0, 40 * 3996);
  EXPECT_EQ(it.segment_count(), 40u);
  it.advance(3996 * 31 + 10);
  std::vector<std::byte> out(5000);
  EXPECT_EQ(it.copy_out(out.data(), out.size()), 5000u);
  EXPECT_EQ(out[0], std::byte(31));
  EXPECT_EQ(out[3985], std::byte(31));
  EXPECT_EQ(out[3986], std::byte(32));  // crossed into the second segment
  std::vector<iovec> segs;
  EXPECT_EQ(it.segments(segs, 3), 3986u + 3996u * 2);
  EXPECT_EQ(segs.size(), 3u);
  for (Folio* f : folios) f->put_ref();
}

// An iterator advanced to exactly the end of a full segment must not keep pointing into
// it: the collector frees the segment once it is spent (ASan reports the old behaviour).
TEST(RollingBuffer, IteratorAtSegmentEndSurvivesFreeingThatSegment) {
  Stats st;
  RollingBuffer rb(&st, nullptr, 1);
  std::vector<Folio*> folios;
  FolioQueue* q0 = nullptr;
  for (unsigned i = 0; i < FolioQueue::kSlots + 2; i++) {
    auto* f = new Folio(uint64_t(i) * 4096, 4096);
    for (int b = 0; b < 4096; b++) f->data()[b] = std::byte(i);
    FolioQueue* q;
    unsigned slot;
    rb.append(f, 0, 4096, &q, &slot);
    if (i == 0) q0 = q;
    folios.push_back(f);
  }
  IoIter it = IoIter::folioq(q0, 0, 0, SIZE_MAX);
  it.advance(4096 * FolioQueue::kSlots);
  for (unsigned i = 0; i < FolioQueue::kSlots; i++) rb.consume()->put_ref();
  ASSERT_NE(rb.peek(), nullptr);          // steps the collector into the second segment
  EXPECT_EQ(read(st.objs_folioqs), 1);  // and the first is gone
  std::byte b{};
  EXPECT_EQ(it.copy_out(&b, 1), 1u);
  EXPECT_EQ(b, std::byte(FolioQueue::kSlots));
  for (Folio* f : folios) f->put_ref();
}

// The issuer appends while the collector consumes on another thread, sharing no lock.
TEST(RollingBuffer, ConcurrentIssuerAndCollector) {
  Stats st;
  RollingBuffer rb(&st, nullptr, 1);
  constexpr int kN = 20000;
  std::thread collector([&] {
    int seen = 0;
    while (seen < kN) {
      FolioQueue::Slot* s = rb.peek();
      if (!s) {
        std::this_thread::yield();
        continue;
      }
      ASSERT_EQ(s->folio->pos(), uint64_t(seen) * 4096);
      rb.consume()->put_ref();
      seen++;
    }
  });
  for (int i = 0; i < kN; i++) {
    auto* f = new Folio(uint64_t(i) * 4096, 4096);
    FolioQueue* q;
    unsigned slot;
    rb.append(f, 0, 4096, &q, &slot);
    f->put_ref();  // the buffer holds the only reference now
  }
  collector.join();
  EXPECT_LE(read(st.objs_folioqs), 1);
}

}  // namespace
}  // namespace netfs
