// RollingBuffer: the folios of one request, as a chain of FolioQueue segments, after the
// kernel's rolling_buffer / folio_queue.
//
// The issuer appends folios at the head while the collector consumes and frees spent
// segments at the tail, with no lock shared between them:
//  1. Only the issuer writes a segment's slots and its `used` count; it fills a slot
//     before publishing the new count with a release store.
//  2. Only the issuer links a new segment, by a release store of `next`.
//  3. The collector reads `used` and `next` with acquire loads, so every slot it sees is
//     complete.
//  4. The collector frees a segment only when it has consumed all of its slots and it is
//     not the head (its `next` is set), so the issuer never touches freed memory.
//  5. An IoIter (a position in a segment) stays valid while segments are appended and
//     while spent segments behind the collector are freed: every live iterator belongs to
//     an uncollected subrequest, which lies at or after the collector's position.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "netfs/folio.h"

namespace netfs {

class Stats;
class Trace;

struct FolioQueue {
  static constexpr unsigned kSlots = 32;

  struct Slot {
    Folio* folio;      // holds a folio reference
    uint32_t from;     // byte range of the folio this request moves
    uint32_t to;
    uint64_t pos() const { return folio->pos() + from; }
    size_t len() const { return to - from; }
  };

  Slot slots[kSlots];
  std::atomic<unsigned> used{0};          // published by the issuer (release)
  std::atomic<FolioQueue*> next{nullptr};  // published by the issuer (release)
  unsigned debug_id = 0;
};

class RollingBuffer {
 public:
  RollingBuffer(Stats* stats, Trace* trace, unsigned rreq_id, uint64_t ino = 0)
      : stats_(stats), trace_(trace), rreq_id_(rreq_id), ino_(ino) {}
  ~RollingBuffer();
  RollingBuffer(const RollingBuffer&) = delete;
  RollingBuffer& operator=(const RollingBuffer&) = delete;

  // ---- issuer side ----
  // Appends a folio range, taking a reference to the folio. Returns the segment and slot
  // it landed in.
  void append(Folio* folio, size_t from, size_t to, FolioQueue** q, unsigned* slot);
  FolioQueue* head() const { return head_; }

  // ---- collector side ----
  // The next slot not yet consumed, or null when the issuer has not appended it yet.
  FolioQueue::Slot* peek();
  // Consumes the slot peek() returned, dropping its folio reference to the caller (who
  // receives it), and frees the tail segment once it is spent and not the head.
  Folio* consume();

 private:
  FolioQueue* new_segment();
  void free_segment(FolioQueue* q);

  Stats* stats_;
  Trace* trace_;
  unsigned rreq_id_;
  uint64_t ino_;  // the request's file, for trace records
  FolioQueue* head_ = nullptr;              // issuer's
  std::atomic<FolioQueue*> tail_{nullptr};  // collector's; set once by the first append
  unsigned tail_slot_ = 0;                  // collector's
};

}  // namespace netfs
