#include "netfs/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <thread>
#include <tuple>

#include "netfs/cancel.h"
#include "netfs/inode.h"
#include "netfs/result.h"

namespace netfs {

namespace {

uint64_t default_memory_limit() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 1ull << 30;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 4;
}

Options clamp_options(Options o, uint64_t budget) {
  // Dirty data must leave room in the budget for the clean folios reads need.
  o.dirty_limit = std::min(o.dirty_limit, budget / 2);
  return o;
}

}  // namespace

Engine::Engine(Options options)
    : options_(clamp_options(options, options.memory_limit ? options.memory_limit : default_memory_limit())),
      trace_(options.trace_ring_entries),
      memory_limit_(options.memory_limit ? options.memory_limit : default_memory_limit()),
      wq_(options.worker_threads) {}

Engine::~Engine() {
  // A backend's thread may still be inside Subrequest::terminated() after the waiter it
  // woke has returned: its last put frees the subrequest and queues the request's
  // cleanup on our WorkQueue. Wait for those to finish before the queue stops, bounded so
  // that a backend that never completes a subrequest cannot hang the owner forever.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((read(stats_.objs_subrequests) > 0 || read(stats_.objs_requests) > 0) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<std::shared_ptr<Inode>> pins, copies;
  {
    std::lock_guard lk(acct_mu_);
    pins.swap(dirty_list_);
    copies.swap(copy_list_);
  }
  // Inodes released here may still hold dirty data: the owner chose to drop it.
}

std::shared_ptr<Inode> Engine::new_inode(RequestOps& ops, uint64_t backend_id, uint64_t remote_size,
                                         cache::Cookie* cookie, uint64_t ino) {
  auto inode = std::make_shared<Inode>(*this, ops, backend_id, remote_size, cookie, ino);
  std::lock_guard lk(inodes_mu_);
  // Prune the dead while we are here, so the list tracks the live inodes.
  std::erase_if(inodes_, [](const std::weak_ptr<Inode>& w) { return w.expired(); });
  inodes_.push_back(inode);
  return inode;
}

uint64_t Engine::resident_bytes() const {
  int64_t r = read(stats_.mem_resident_bytes);
  return r > 0 ? static_cast<uint64_t>(r) : 0;
}

uint64_t Engine::reclaim(uint64_t incoming) {
  if (resident_bytes() + incoming <= memory_limit_) return 0;
  std::lock_guard rl(reclaim_mu_);
  const uint64_t resident = resident_bytes();
  if (resident + incoming <= memory_limit_) return 0;  // another reclaimer made room
  const uint64_t target = memory_limit_ - std::min(memory_limit_, memory_limit_ / 16 + incoming);
  uint64_t need = resident > target ? resident - target : 0;

  std::vector<std::shared_ptr<Inode>> live;
  {
    std::lock_guard lk(inodes_mu_);
    for (auto& w : inodes_)
      if (auto p = w.lock()) live.push_back(std::move(p));
  }
  // Candidates: clean folios nobody is using, by last use.
  struct Candidate {
    uint64_t tick;
    size_t inode;
    uint64_t pos;
  };
  std::vector<Candidate> cands;
  for (size_t i = 0; i < live.size(); i++) {
    Mapping& m = live[i]->mapping();
    std::lock_guard lk(m.mu_);
    for (auto& [pos, f] : m.folios_)
      if (!f->dirty && !f->writeback && !f->locked && f->extra_refs() == 0) cands.push_back({f->lru_tick, i, pos});
  }
  std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.tick, a.inode, a.pos) < std::tie(b.tick, b.inode, b.pos);
  });
  uint64_t freed = 0;
  std::vector<Folio*> drop;
  for (const Candidate& c : cands) {
    if (freed >= need) break;
    Mapping& m = live[c.inode]->mapping();
    std::lock_guard lk(m.mu_);
    Folio* f = m.find_locked(c.pos);
    // Re-check: it may have been dirtied, locked or used again since the scan.
    if (!f || f->pos() != c.pos || f->dirty || f->writeback || f->locked || f->extra_refs() != 0 ||
        f->lru_tick != c.tick)
      continue;
    m.folios_.erase(c.pos);
    freed += f->size();
    drop.push_back(f);
  }
  gauge_add(stats_.objs_folios, -static_cast<int64_t>(drop.size()));
  gauge_add(stats_.mem_resident_bytes, -static_cast<int64_t>(freed));
  bump(stats_.mem_evicted, drop.size());
  for (Folio* f : drop) f->put_ref();
  return freed;
}

void Engine::account_dirty(Inode& inode, int64_t n) {
  if (n == 0) return;
  gauge_add(stats_.mem_dirty_bytes, n);
  if (n > 0) {
    dirty_bytes_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    std::lock_guard lk(acct_mu_);
    if (!inode.on_dirty_list_) {
      inode.on_dirty_list_ = true;
      dirty_list_.push_back(inode.shared_from_this());
    }
    return;
  }
  dirty_bytes_.fetch_sub(static_cast<uint64_t>(-n), std::memory_order_relaxed);
  {
    std::lock_guard lk(acct_mu_);  // orders the decrement before a throttled writer's check
  }
  acct_cv_.notify_all();
}

std::vector<std::shared_ptr<Inode>> Engine::dirty_inodes() {
  std::lock_guard lk(acct_mu_);
  return dirty_list_;
}

void Engine::maybe_clean(Inode& inode) {
  if (inode.dirty_bytes() != 0) return;
  std::shared_ptr<Inode> drop;  // released after the lock: it may be the last reference
  std::lock_guard lk(acct_mu_);
  if (!inode.on_dirty_list_) return;
  // Re-check under the lock: a writer may have dirtied it again (it would have found
  // on_dirty_list_ set and not re-added it).
  if (inode.dirty_bytes() != 0) return;
  auto it = std::find_if(dirty_list_.begin(), dirty_list_.end(),
                         [&](const std::shared_ptr<Inode>& p) { return p.get() == &inode; });
  if (it != dirty_list_.end()) {
    drop = std::move(*it);
    dirty_list_.erase(it);
  }
  inode.on_dirty_list_ = false;
}

void Engine::note_cache_copy(Inode& inode) {
  {
    std::lock_guard lk(acct_mu_);
    if (inode.on_copy_list_) return;
    inode.on_copy_list_ = true;
    copy_list_.push_back(inode.shared_from_this());
  }
  kick_flusher();
}

std::vector<std::shared_ptr<Inode>> Engine::take_cache_copies() {
  std::vector<std::shared_ptr<Inode>> out;
  std::lock_guard lk(acct_mu_);
  out.swap(copy_list_);
  for (auto& i : out) i->on_copy_list_ = false;
  return out;
}

void Engine::set_flusher_kick(std::function<void()> kick) {
  std::lock_guard lk(acct_mu_);
  flusher_kick_ = std::move(kick);
}

bool Engine::has_flusher() {
  std::lock_guard lk(acct_mu_);
  return static_cast<bool>(flusher_kick_);
}

void Engine::kick_flusher() {
  std::function<void()> kick;
  {
    std::lock_guard lk(acct_mu_);
    kick = flusher_kick_;
  }
  if (kick) kick();
}

void Engine::notify_writeback_progress(int error) {
  {
    std::lock_guard lk(acct_mu_);
    if (error) {
      wb_error_gen_++;
      wb_last_error_ = error;
    }
  }
  acct_cv_.notify_all();
}

namespace {

uint64_t steady_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

void Engine::note_writeback_result(Inode& inode, int error, uint64_t landed) {
  std::function<void(Inode&, int)> hook;
  int tell = -1;
  {
    std::lock_guard lk(acct_mu_);
    if (error && is_lasting_refusal(error)) {
      bump(stats_.wb_refusals);
      if (inode.refusals_++ == 0) {
        bump(stats_.wb_refused_files);
        gauge_add(stats_.wb_refused_now, 1);
        tell = error;
      }
      inode.refused_error_ = error;
      // refusal_backoff * 2^(refusals - 1), capped: a full disk is not freed in a second.
      auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.refusal_backoff);
      const auto cap = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.refusal_backoff_max);
      for (unsigned i = 1; i < inode.refusals_ && wait < cap; i++) wait *= 2;
      inode.retry_after_ns_ = steady_ns() + static_cast<uint64_t>(std::min(wait, cap).count());
    } else if (!error && landed && inode.refusals_) {
      inode.refusals_ = 0;
      inode.refused_error_ = 0;
      inode.retry_after_ns_ = 0;
      gauge_add(stats_.wb_refused_now, -1);
      tell = 0;
    }
    if (tell >= 0) hook = refusal_hook_;
  }
  if (hook) hook(inode, tell);
}

void Engine::end_refusals(Inode& inode) {
  std::lock_guard lk(acct_mu_);
  if (!inode.refusals_) return;
  inode.refusals_ = 0;
  inode.refused_error_ = 0;
  inode.retry_after_ns_ = 0;
  gauge_add(stats_.wb_refused_now, -1);
}

void Engine::set_refusal_hook(std::function<void(Inode&, int error)> hook) {
  std::lock_guard lk(acct_mu_);
  refusal_hook_ = std::move(hook);
}

Engine::FlushTurn Engine::flush_turn(Inode& inode, int* refused) {
  std::lock_guard lk(acct_mu_);
  if (refused) *refused = inode.refused_error_;
  if (!inode.refusals_) return FlushTurn::kNow;
  return steady_ns() >= inode.retry_after_ns_ ? FlushTurn::kProbe : FlushTurn::kLater;
}

uint64_t Engine::writeback_error_gen() {
  std::lock_guard lk(acct_mu_);
  return wb_error_gen_;
}

int Engine::wait_for_dirty_room(uint64_t limit, uint64_t gen, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lk(acct_mu_);
  bool room = false;
  WaitEnd end = wait_cancellable_until(Cancel::current(), acct_cv_, lk, deadline, [&] {
    room = dirty_bytes_.load(std::memory_order_relaxed) <= limit;
    return room || wb_error_gen_ != gen;
  });
  if (end == WaitEnd::kCancelled) return EINTR;
  if (room) return 0;
  return wb_error_gen_ != gen ? wb_last_error_ : -1;
}

}  // namespace netfs
