#include "fuse/lock_table.h"

#include <fcntl.h>

#include <algorithm>
#include <tuple>

namespace netfs::fuse {

namespace {

bool overlaps(const RecordLock& a, const RecordLock& b) { return a.start <= b.end && b.start <= a.end; }

ServerMode mode_for(short type) { return type == F_WRLCK ? ServerMode::kWrite : ServerMode::kRead; }

}  // namespace

LockTable::LockTable(ServerFn server, std::chrono::milliseconds poll_max)
    : server_fn_(std::move(server)), poll_max_(poll_max) {}

const RecordLock* LockTable::conflict_locked(const RecordLock& l) const {
  for (const RecordLock& x : locks_) {
    if (x.owner == l.owner || !overlaps(x, l)) continue;
    if (x.type == F_WRLCK || l.type == F_WRLCK) return &x;
  }
  return nullptr;
}

void LockTable::apply_locked(const RecordLock& l) {
  // First the owner's locks lose [l.start, l.end] (split where they stick out), as any
  // new lock or unlock of the owner replaces what it held there.
  std::vector<RecordLock> out;
  out.reserve(locks_.size() + 2);
  for (const RecordLock& x : locks_) {
    if (x.owner != l.owner || !overlaps(x, l)) {
      out.push_back(x);
      continue;
    }
    if (x.start < l.start) {
      RecordLock left = x;
      left.end = l.start - 1;
      out.push_back(left);
    }
    if (x.end > l.end) {
      RecordLock right = x;
      right.start = l.end + 1;
      out.push_back(right);
    }
  }
  if (l.type != F_UNLCK) {
    // Then the new lock, merged with the owner's locks of the same type that touch it
    // (fs/locks.c does the same, so F_GETLK reports one range, not pieces).
    RecordLock n = l;
    for (auto it = out.begin(); it != out.end();) {
      bool touches = it->owner == n.owner && it->type == n.type &&
                     ((it->end != kLockEof && it->end + 1 == n.start) || (n.end != kLockEof && n.end + 1 == it->start));
      if (touches) {
        n.start = std::min(n.start, it->start);
        n.end = std::max(n.end, it->end);
        it = out.erase(it);
      } else {
        ++it;
      }
    }
    out.push_back(n);
  }
  std::sort(out.begin(), out.end(), [](const RecordLock& a, const RecordLock& b) {
    return std::tie(a.owner, a.start) < std::tie(b.owner, b.start);
  });
  locks_ = std::move(out);
}

ServerMode LockTable::needed_locked() const {
  ServerMode m = ServerMode::kNone;
  for (const RecordLock& x : locks_) m = std::max(m, mode_for(x.type));
  return m;
}

template <typename F>
auto LockTable::call_out_locked(std::unique_lock<std::mutex>& lk, F&& f) {
  busy_ = true;
  lk.unlock();
  auto r = f();
  lk.lock();
  busy_ = false;
  cv_.notify_all();  // waiters for busy_ and for the server lock look again
  return r;
}

Status LockTable::server_change(std::unique_lock<std::mutex>& lk, ServerMode from, ServerMode to) {
  return call_out_locked(lk, [&] { return server_fn_(from, to); });
}

void LockTable::wait_locked(std::unique_lock<std::mutex>& lk, std::optional<std::chrono::milliseconds> at_most) {
  waiting_++;
  if (at_most) {
    cv_.wait_for(lk, *at_most);
  } else {
    cv_.wait(lk);
  }
  waiting_--;
}

void LockTable::settle_locked(std::unique_lock<std::mutex>& lk) {
  while (!busy_) {
    ServerMode need = needed_locked();
    ServerMode from = server_;
    if (need == from) return;
    Status st = server_change(lk, from, need);
    if (st.ok()) {
      server_ = need;
      continue;  // the locks may have changed while the call was out
    }
    // An unlock the server did not confirm: the lock goes with the fid at the latest, and
    // taking it again on the same fid is only a conversion, so count it as gone. A failed
    // downgrade keeps the stronger lock (safe: others wait a little longer). A failed
    // re-take (see set()) leaves local readers without the server's lock: nothing better
    // is possible without a callback from the server; the next change tries again.
    if (need == ServerMode::kNone) server_ = ServerMode::kNone;
    return;
  }
}

Status LockTable::set(const RecordLock& l, bool wait, const std::atomic<bool>* cancel) {
  if ((l.type != F_RDLCK && l.type != F_WRLCK && l.type != F_UNLCK) || l.start > l.end)
    return make_error(EINVAL, "lock: bad type or range");
  std::unique_lock lk(mu_);
  if (l.type == F_UNLCK) {
    apply_locked(l);
    cv_.notify_all();
    settle_locked(lk);
    return ok_status();
  }
  Status result = ok_status();
  bool refused = false;  // the server said no: wait a pause before asking again
  auto pause = std::min(std::chrono::milliseconds(10), poll_max_);
  for (;;) {
    if (cancel && cancel->load()) {
      result = make_error(EINTR, "lock: interrupted");
      break;
    }
    if (conflict_locked(l)) {
      if (!wait) {
        result = make_error(EAGAIN, "lock: held by another owner here");
        break;
      }
      wait_locked(lk);
      continue;
    }
    ServerMode want = std::max(needed_locked(), mode_for(l.type));
    if (server_ >= want) {
      apply_locked(l);
      break;
    }
    if (busy_) {  // another call is moving the server lock: see what it got
      wait_locked(lk);
      continue;
    }
    if (refused) {
      // Polled, but through the condition variable: a cancel (or a local change) cuts
      // the pause short.
      wait_locked(lk, pause);
      pause = std::min(pause * 2, poll_max_);
      refused = false;
      continue;
    }
    ServerMode from = server_;
    Status st = server_change(lk, from, want);
    if (st.ok()) {
      server_ = want;
      continue;  // the local locks may have changed while the call was out: look again
    }
    // diod turns Tlock into flock(2), and a refused flock conversion (read → write) has
    // already dropped the read lock the fid held: take it back now, for the local
    // readers that still count on it.
    if (from != ServerMode::kNone) {
      server_ = ServerMode::kNone;
      settle_locked(lk);
    }
    if (st.errnum() != EAGAIN || !wait) {
      result = st;
      break;
    }
    refused = true;
  }
  // A refused, cancelled or failed request may leave the server lock off what the locks
  // need (stronger, or lost in a failed conversion).
  settle_locked(lk);
  return result;
}

Result<std::optional<RecordLock>> LockTable::test(const RecordLock& l, const ServerTestFn& server_test) {
  if ((l.type != F_RDLCK && l.type != F_WRLCK) || l.start > l.end) return make_error(EINVAL, "getlk: bad type or range");
  std::unique_lock lk(mu_);
  for (;;) {
    if (const RecordLock* c = conflict_locked(l)) return std::optional<RecordLock>(*c);
    // Holding the server lock needed, no other client can hold a conflicting one. Holding
    // a read lock and asked about writing, we cannot ask diod: its Tgetlock tries the
    // flock on our own fid, a conversion that drops our lock if refused (docs/fuse.md).
    if (server_ != ServerMode::kNone || !server_test) return std::optional<RecordLock>();
    if (!busy_) break;
    cv_.wait(lk);
  }
  auto r = call_out_locked(lk, [&] { return server_test(l.type); });
  settle_locked(lk);  // a set() that found us busy may have left work
  return r;
}

void LockTable::release_owner(uint64_t owner) {
  std::unique_lock lk(mu_);
  auto gone = std::remove_if(locks_.begin(), locks_.end(), [&](const RecordLock& x) { return x.owner == owner; });
  if (gone == locks_.end()) return;
  locks_.erase(gone, locks_.end());
  cv_.notify_all();
  settle_locked(lk);
}

void LockTable::drop_all() {
  std::lock_guard lk(mu_);
  locks_.clear();
  server_ = ServerMode::kNone;
  cv_.notify_all();
}

void LockTable::wake() {
  // Under the mutex, so that a waiter between its cancel check and its wait cannot miss it.
  std::lock_guard lk(mu_);
  cv_.notify_all();
}

std::vector<RecordLock> LockTable::locks() const {
  std::lock_guard lk(mu_);
  return locks_;
}

ServerMode LockTable::server_mode() const {
  std::lock_guard lk(mu_);
  return server_;
}

size_t LockTable::waiting() const {
  std::lock_guard lk(mu_);
  return waiting_;
}

bool LockTable::empty() const {
  std::lock_guard lk(mu_);
  return locks_.empty();
}

}  // namespace netfs::fuse
