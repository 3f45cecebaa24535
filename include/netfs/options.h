// Options: every tunable of the engine, with its default and unit. One value is handed to
// Engine at construction; it is not changed afterwards.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace netfs {

struct Options {
  // Bytes per folio, a power of two (default 64 KiB). Larger folios mean fewer
  // bookkeeping operations per byte; smaller ones mean less read amplification.
  size_t folio_size = 64 * 1024;

  // Write back data that has been dirty for longer than this (default 5 s).
  std::chrono::milliseconds writeback_delay{5000};

  // Throttle writers while the engine holds more dirty bytes than this (default 256 MiB).
  uint64_t dirty_limit = 256ull << 20;

  // Hard cap on retries of one subrequest that makes no progress (default 10). Progress
  // (a short transfer that moved bytes) resets the count.
  unsigned max_retries = 10;

  // Backoff before retry n is retry_backoff * 2^(n-1), capped at retry_backoff_max
  // (defaults 10 ms and 2 s). Zero disables backoff (tests).
  std::chrono::milliseconds retry_backoff{10};
  std::chrono::milliseconds retry_backoff_max{2000};

  // Write-back the server refused with a lasting error (is_lasting_refusal: ENOSPC,
  // EROFS, ...) is tried again by the flusher after refusal_backoff, doubling per refusal
  // up to refusal_backoff_max (defaults 2 s and 60 s), and then only one folio at first.
  // fsync, close and sync always try at once.
  std::chrono::milliseconds refusal_backoff{2000};
  std::chrono::milliseconds refusal_backoff_max{60000};

  // Readahead window: starts at readahead_initial and doubles while reads stay
  // sequential, up to readahead_max (defaults 128 KiB and 8 MiB). readahead_max = 0
  // disables readahead: each miss reads only the folios the caller asked for.
  uint64_t readahead_initial = 128 * 1024;
  uint64_t readahead_max = 8ull << 20;

  // One budget for all folios, clean and dirty (0 = a quarter of physical memory). Clean
  // folios are evicted least-recently-used when a read needs room; dirty data is held
  // to dirty_limit (which is clamped to half the budget).
  uint64_t memory_limit = 0;

  // Threads in the engine's WorkQueue that run collectors (default 2).
  unsigned worker_threads = 2;

  // Entries kept by the in-memory trace ring (default 4096; rounded up to a power of two).
  size_t trace_ring_entries = 4096;
};

}  // namespace netfs
