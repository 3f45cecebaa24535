#include "netfs/engine.h"

#include <algorithm>
#include <cassert>

#include "netfs/inode.h"

namespace netfs {

Engine::Engine(Options options)
    : options_(options), trace_(options.trace_ring_entries), wq_(options.worker_threads) {}

Engine::~Engine() {
  std::vector<std::shared_ptr<Inode>> pins;
  {
    std::lock_guard lk(acct_mu_);
    pins.swap(dirty_list_);
  }
  // Inodes released here may still hold dirty data: the owner chose to drop it.
}

std::shared_ptr<Inode> Engine::new_inode(RequestOps& ops, uint64_t backend_id, uint64_t remote_size,
                                         cache::Cookie* cookie) {
  return std::make_shared<Inode>(*this, ops, backend_id, remote_size, cookie);
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

uint64_t Engine::writeback_error_gen() {
  std::lock_guard lk(acct_mu_);
  return wb_error_gen_;
}

int Engine::wait_for_dirty_room(uint64_t limit, uint64_t gen) {
  std::unique_lock lk(acct_mu_);
  while (dirty_bytes_.load(std::memory_order_relaxed) > limit) {
    if (wb_error_gen_ != gen) return wb_last_error_;
    acct_cv_.wait(lk);
  }
  return 0;
}

}  // namespace netfs
