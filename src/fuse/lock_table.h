// LockTable: the POSIX record locks (fcntl F_SETLK/F_SETLKW/F_GETLK, lockf) of one file,
// held for every local lock owner, as the kernel's fs/locks.c would hold them for a local
// file. We ask the kernel for FUSE_CAP_POSIX_LOCKS, so the kernel arbitrates nothing: each
// request reaches us with its owner (a process's files_struct, or an open file for OFD
// locks) and the table decides.
//
// Semantics, after fs/locks.c: byte ranges [start, end] (end inclusive, kLockEof = to the
// end of the file, however it grows); an owner's own locks never conflict with each other
// — a new lock replaces what the owner held under it (converting a read lock to a write
// lock or back, splitting a range, merging touching ranges of one type); locks of different
// owners conflict when they overlap and one of them is a write lock. An unlock of a part
// of a range splits it. A blocking request (wait) waits on the table's condition variable,
// which every unlock, release and server change wakes.
//
// The server: while any local owner holds a lock, the mount holds one whole-file lock on
// the server for all of them (write while any local lock is a write lock, else read),
// through `server_` (docs/fuse.md). It is taken before the first local lock is granted and
// let go when the last one goes. server_ calls are serialised per table (one at a time)
// and made with the table's mutex released, since they are round trips.
//
// Threading: every method is thread-safe. The ServerFn and ServerTestFn are called
// without the table's mutex held, never two at once for one table.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <vector>

#include "netfs/result.h"

namespace netfs::fuse {

// The kernel's OFFSET_MAX: a range that ends here runs to the end of the file.
inline constexpr uint64_t kLockEof = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

struct RecordLock {
  uint64_t owner = 0;  // the FUSE lock owner
  uint64_t start = 0;
  uint64_t end = kLockEof;  // inclusive
  short type = 0;           // F_RDLCK, F_WRLCK or F_UNLCK
  pid_t pid = 0;            // of the process that asked (what F_GETLK reports)
  friend bool operator==(const RecordLock&, const RecordLock&) = default;
};

// The mount's whole-file lock on the server, weakest first.
enum class ServerMode : uint8_t { kNone, kRead, kWrite };

class LockTable {
 public:
  // Moves the server lock from `from` to `to` (kNone: unlock). EAGAIN when the server
  // refuses because another client holds a conflicting lock.
  using ServerFn = std::function<Status(ServerMode from, ServerMode to)>;
  // Would the server refuse a lock of `type` (F_RDLCK/F_WRLCK)? The holder it reports, or
  // nullopt. Only asked while the table holds no server lock.
  using ServerTestFn = std::function<Result<std::optional<RecordLock>>(short type)>;

  // poll_max: the longest pause between two tries of a lock the server refused (9P has no
  // lock callbacks, so a blocking request polls it, as v9fs does).
  explicit LockTable(ServerFn server, std::chrono::milliseconds poll_max = std::chrono::milliseconds(500));
  LockTable(const LockTable&) = delete;
  LockTable& operator=(const LockTable&) = delete;

  // Sets (F_RDLCK/F_WRLCK) or removes (F_UNLCK) l.owner's lock on [l.start, l.end].
  // Without wait a conflict is EAGAIN (locally, or refused by the server); with wait the
  // call returns once it is granted, or EINTR once *cancel is true (set it, then wake()).
  // EINVAL for a bad type or start > end.
  Status set(const RecordLock& l, bool wait, const std::atomic<bool>* cancel = nullptr);
  // F_GETLK: the first lock of another owner that would block l, or nullopt. Without a
  // local conflict and without a server lock of ours, server_test is asked.
  Result<std::optional<RecordLock>> test(const RecordLock& l, const ServerTestFn& server_test = {});
  // close(2) by owner (FUSE flush): every lock it holds here goes.
  void release_owner(uint64_t owner);
  // The file's last open file went: every lock goes, and the server lock is taken as
  // gone (the caller drops it by clunking its fid). Requires: no call of this table in
  // flight.
  void drop_all();
  // A cancel flag passed to set() changed: waiters look at it.
  void wake();

  // For tests and stats: the locks held (sorted by owner, then start), the server lock,
  // and how many set() calls are waiting.
  std::vector<RecordLock> locks() const;
  ServerMode server_mode() const;
  size_t waiting() const;
  bool empty() const;

 private:
  // Requires mu_ held.
  const RecordLock* conflict_locked(const RecordLock& l) const;
  void apply_locked(const RecordLock& l);
  ServerMode needed_locked() const;
  // Runs f() with mu_ released (busy_ set meanwhile), then wakes everyone.
  template <typename F>
  auto call_out_locked(std::unique_lock<std::mutex>& lk, F&& f);
  // Moves the server lock through call_out_locked.
  Status server_change(std::unique_lock<std::mutex>& lk, ServerMode from, ServerMode to);
  // Waits on cv_ (at most at_most), counted in waiting_.
  void wait_locked(std::unique_lock<std::mutex>& lk, std::optional<std::chrono::milliseconds> at_most = std::nullopt);
  // Brings the server lock to what the local locks need, unless another call is already
  // changing it (that call settles before it returns).
  void settle_locked(std::unique_lock<std::mutex>& lk);

  const ServerFn server_fn_;
  const std::chrono::milliseconds poll_max_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RecordLock> locks_;
  ServerMode server_ = ServerMode::kNone;
  bool busy_ = false;  // a server call is in flight
  size_t waiting_ = 0;
};

}  // namespace netfs::fuse
