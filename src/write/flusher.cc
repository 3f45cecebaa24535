// Flusher: what the kernel's bdi flusher threads and balance_dirty_pages do for netfs.
// Wakes every writeback_delay/2 (at most every second) or when kicked by a throttled
// writer; writes back folios older than writeback_delay, or everything while the engine
// is over its dirty limit. Write-back it starts is asynchronous: the WorkQueue collects.
// A file whose write-back the server refuses for a lasting reason is left alone until
// its back-off ends, then probed with one folio (Engine::flush_turn).
#include <algorithm>
#include <chrono>

#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/write.h"
#include "write/internal.h"

namespace netfs {

Flusher::Flusher(Engine& engine) : engine_(engine) {
  thread_ = std::thread([this] { run(); });
  engine_.set_flusher_kick([this] { kick(); });
}

Flusher::~Flusher() {
  engine_.set_flusher_kick(nullptr);
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Flusher::kick() {
  {
    std::lock_guard lk(mu_);
    kicked_ = true;
  }
  cv_.notify_all();
}

void Flusher::run() {
  using namespace std::chrono;
  const auto delay = engine_.options().writeback_delay;
  const auto period = std::clamp<milliseconds>(delay / 2, milliseconds(1), milliseconds(1000));
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait_for(lk, period, [&] { return kicked_ || stop_; });
    if (stop_) return;
    kicked_ = false;
    lk.unlock();
    pass(engine_.dirty_bytes() > engine_.options().dirty_limit);
    lk.lock();
  }
}

void Flusher::pass(bool over_limit) {
  bump(engine_.stats().flusher_runs);
  const uint64_t delay_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(engine_.options().writeback_delay).count());
  const uint64_t now = write::now_ns();
  const uint64_t cutoff = now > delay_ns ? now - delay_ns : 0;
  // Folios read from the server waiting to be copied to the local cache.
  for (auto& inode : engine_.take_cache_copies()) (void)writepages(*inode, WritebackControl{});
  for (auto& inode : engine_.dirty_inodes()) {
    WritebackControl wbc;
    if (!over_limit) wbc.dirtied_before_ns = cutoff;
    // A file the server refuses (ENOSPC, EROFS, ...) waits out its back-off, then sends
    // one folio: the whole file failing again every pass was ~480 Twrites a second.
    int refused = 0;
    switch (engine_.flush_turn(*inode, &refused)) {
      case Engine::FlushTurn::kNow:
        break;
      case Engine::FlushTurn::kLater:
        bump(engine_.stats().wb_backed_off);
        // A writer throttled at the limit waits for room this data will not make:
        // it learns the refusal instead.
        if (over_limit) engine_.notify_writeback_progress(refused);
        continue;
      case Engine::FlushTurn::kProbe:
        wbc.dirtied_before_ns = UINT64_MAX;
        wbc.max_bytes = 1;  // the first dirty folio
        break;
    }
    auto r = writepages(*inode, wbc);
    if (r.ok() && *r > 0) bump(over_limit ? engine_.stats().flusher_limit_writebacks : engine_.stats().flusher_age_writebacks);
  }
}

}  // namespace netfs
