// The write path's entry points, after the kernel's netfs_perform_write,
// netfs_writepages, netfs_unbuffered_write_iter and netfs_writeback_single, plus what the
// kernel's VFS supplies around them (fsync with errseq, truncation, the flusher).
//
// Threading: every call may be made from any thread; calls on one inode may overlap.
// Calls that wait (sync write-back, fsync, write-through, unbuffered, single) collect
// their request in the calling thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "netfs/errseq.h"
#include "netfs/result.h"

namespace netfs {

class Engine;
class Inode;

enum class WriteMode : uint8_t {
  kWriteBack,     // copy into folios and return; the flusher or fsync writes them
  kWriteThrough,  // copy into folios and write them to the server before returning
};

// Copies len bytes at pos into the inode's folios and marks them dirty (or writes them
// through). May wait for room under the dirty limit. Returns bytes copied, or an error
// (a throttled writer whose write-back keeps failing gets that error; nothing it wrote
// before is lost).
Result<size_t> perform_write(Inode& inode, uint64_t pos, const void* buf, size_t len,
                             WriteMode mode = WriteMode::kWriteBack);

struct WritebackControl {
  bool sync = false;             // wait for the request and return bytes written
  uint64_t start = 0;            // file range to write back
  uint64_t end = UINT64_MAX;
  uint64_t dirtied_before_ns = UINT64_MAX;  // only folios dirtied before this (flusher age)
  uint64_t max_bytes = UINT64_MAX;          // stop after picking this many dirty bytes (a probe)
};

// Writes back the inode's dirty folios in [start, end) in file order. Sync: waits and
// returns the bytes the server accepted, or the first permanent error. Async: returns the
// bytes queued; collection happens on the WorkQueue.
Result<size_t> writepages(Inode& inode, const WritebackControl& wbc);

// Writes back every dirty byte, waits for write-back already in flight, and returns the
// first write-back error this caller has not seen yet (errseq). Data that failed to write
// stays dirty.
Status fsync(Inode& inode, Errseq::Cursor& since);

// O_DIRECT: writes any dirty folios overlapping the range, sends buf straight to the
// server in subrequests, then drops the (now stale) cached folios of the range.
// Returns len, or, when an upload failed for good, the bytes that landed contiguously
// from pos (a short write, as POSIX write()); the errno only when none did. The size
// grows over every byte that landed, even past a failed part.
Result<size_t> unbuffered_write(Inode& inode, uint64_t pos, const void* buf, size_t len);

// Writes an object that must go in one piece (a directory blob): one subrequest per
// active stream, never split, retried whole. Replaces the object's contents.
Result<size_t> write_single(Inode& inode, const void* buf, size_t len);

// Sets the file size here and on the server. Shrinking waits out write-back past the new
// size and drops the folios beyond it; the partial folio's tail is zeroed.
Status truncate(Inode& inode, uint64_t new_size);

// The file is gone from the server (unlinked, and nobody has it open): its dirty data
// can never be read by anyone, so it is dropped unwritten, and with it the inode's place
// on the dirty list and any episode of refusals. Waits out write-back in flight. Returns
// the dirty bytes dropped.
uint64_t discard(Inode& inode);

// Flusher: a thread that writes back data older than Options::writeback_delay and, when
// the engine holds more than Options::dirty_limit dirty bytes, everything it can until
// the writers it throttles can go on. Registers itself with the Engine.
class Flusher {
 public:
  explicit Flusher(Engine& engine);
  ~Flusher();  // stops the thread; dirty data stays for the next fsync or flusher
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  void kick();

 private:
  void run();
  void pass(bool over_limit);

  Engine& engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool kicked_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace netfs
