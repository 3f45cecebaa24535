#include "netfs/rolling_buffer.h"

#include <cassert>

#include "core/trace_emit.h"
#include "netfs/stats.h"

namespace netfs {

namespace {
std::atomic<unsigned> g_next_fq_id{0};
}

RollingBuffer::~RollingBuffer() {
  // Whatever the collector did not consume (a request abandoned before issue) is dropped.
  FolioQueue* q = tail_.load(std::memory_order_acquire);
  unsigned slot = tail_slot_;
  while (q) {
    unsigned used = q->used.load(std::memory_order_acquire);
    for (; slot < used; slot++) q->slots[slot].folio->put_ref();
    FolioQueue* next = q->next.load(std::memory_order_acquire);
    free_segment(q);
    q = next;
    slot = 0;
  }
}

FolioQueue* RollingBuffer::new_segment() {
  auto* q = new FolioQueue;
  q->debug_id = g_next_fq_id.fetch_add(1, std::memory_order_relaxed) + 1;
  if (stats_) gauge_add(stats_->objs_folioqs, 1);
  if (trace_) NETFS_TRACE(*trace_, folioq, fq_alloc, ino_, rreq_id_, 0, 0, q->debug_id, 0, 0, 0);
  return q;
}

void RollingBuffer::free_segment(FolioQueue* q) {
  if (stats_) gauge_add(stats_->objs_folioqs, -1);
  if (trace_) NETFS_TRACE(*trace_, folioq, fq_free, ino_, rreq_id_, 0, 0, q->debug_id, 0, 0, 0);
  delete q;
}

void RollingBuffer::append(Folio* folio, size_t from, size_t to, FolioQueue** qp, unsigned* slotp) {
  if (!head_) {
    head_ = new_segment();
    tail_.store(head_, std::memory_order_release);  // publishes the first segment
  }
  unsigned used = head_->used.load(std::memory_order_relaxed);
  if (used == FolioQueue::kSlots) {
    FolioQueue* q = new_segment();
    head_->next.store(q, std::memory_order_release);  // publishes the new segment (rule 2)
    head_ = q;
    used = 0;
  }
  folio->get_ref();
  head_->slots[used] = FolioQueue::Slot{folio, static_cast<uint32_t>(from), static_cast<uint32_t>(to)};
  head_->used.store(used + 1, std::memory_order_release);  // publishes the slot (rule 1)
  *qp = head_;
  *slotp = used;
}

FolioQueue::Slot* RollingBuffer::peek() {
  FolioQueue* q = tail_.load(std::memory_order_acquire);
  if (!q) return nullptr;
  if (tail_slot_ >= q->used.load(std::memory_order_acquire)) {
    if (tail_slot_ < FolioQueue::kSlots) return nullptr;
    FolioQueue* next = q->next.load(std::memory_order_acquire);
    if (!next) return nullptr;
    // The spent segment is not the head: free it (rule 4).
    tail_.store(next, std::memory_order_relaxed);
    free_segment(q);
    tail_slot_ = 0;
    q = next;
    if (q->used.load(std::memory_order_acquire) == 0) return nullptr;
  }
  return &q->slots[tail_slot_];
}

Folio* RollingBuffer::consume() {
  FolioQueue* q = tail_.load(std::memory_order_relaxed);
  assert(q && tail_slot_ < q->used.load(std::memory_order_acquire));
  Folio* f = q->slots[tail_slot_].folio;
  tail_slot_++;
  return f;
}

}  // namespace netfs
