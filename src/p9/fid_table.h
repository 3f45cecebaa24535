// FidTable: the client's fids and what is needed to rebuild each one on a new
// connection: its path from the attach root (a list of names), the qid it named, and the
// flags it was opened with. Fid numbers are chosen by the client and kept across
// reconnects, so messages that name a fid stay valid after a reconnect re-walks it.
//
// Rules (docs/p9.md "Replay"):
//  - A fid enters the table only after the server confirmed it (Rwalk/Rattach), so a
//    replayed walk never finds its newfid already taken.
//  - A rename moves the path of every fid at or below the old name.
//  - A fid that cannot be rebuilt (its file was removed or replaced, the open failed, an
//    xattr fid whose server state died with the connection) is marked stale; I/O on it
//    fails with ESTALE rather than reaching a different file.
//
// Threading: every method is thread-safe (one internal mutex, a leaf lock).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <cstdint>
#include <string>
#include <vector>

#include "p9/protocol.h"

namespace netfs::p9 {

using Path = std::vector<std::string>;

// A POSIX lock the server granted on a fid, kept so a reconnect can take it again.
struct HeldLock {
  uint8_t type = lock_type::kRdlck;
  uint64_t start = 0;
  uint64_t end = UINT64_MAX;  // exclusive; UINT64_MAX: to the end of the file
  uint32_t proc_id = 0;
  std::string client_id;
  friend bool operator==(const HeldLock&, const HeldLock&) = default;
};

struct FidInfo {
  Path path;
  Qid qid;
  int64_t open_flags = -1;  // Tlopen flags, -1 when not open
  bool stale = false;
  bool rebuildable = true;  // false: xattr fids, which name server-side state
  std::vector<HeldLock> locks;  // granted locks, per owner non-overlapping
  uint32_t iounit = 0;          // from Rlopen/Rlcreate; 0: only msize limits an RPC
};

class FidTable {
 public:
  // The attach fid; always present once connected.
  static constexpr uint32_t kRootFid = 0;

  FidTable() = default;
  FidTable(const FidTable&) = delete;
  FidTable& operator=(const FidTable&) = delete;

  // A fid number not in use (the lowest freed one first, so numbers stay small).
  uint32_t alloc();
  // Returns a number to the pool (after Rclunk, or when its walk failed).
  void release(uint32_t fid);

  void set(uint32_t fid, FidInfo info);
  // Records `to` as a fresh clone of `from` (a Twalk with no names): from's path and qid,
  // not open, no locks, rebuildable, not stale. One step under the table's lock, so a
  // rename() either moves from's path before the copy or both paths after it: a clone
  // never keeps a pre-rename path. False (and `to` untouched) if `from` is not in the
  // table or is stale.
  bool clone_entry(uint32_t from, uint32_t to);
  // Records `to` as walked from `from` along names, arriving at qid: from's path as it is
  // now, joined with names. Under the table's lock for the same reason as clone_entry: a
  // rename() that came while the Twalk was out has already moved from's path, and `to`
  // takes the moved one. False (and `to` untouched) if `from` is gone or stale.
  bool walked_entry(uint32_t from, uint32_t to, const std::vector<std::string>& names, const Qid& qid);
  void set_open(uint32_t fid, uint32_t flags, const Qid& qid, uint32_t iounit = 0);
  // The fid's iounit (0 if unknown), without copying its path.
  uint32_t iounit(uint32_t fid) const;
  void erase(uint32_t fid);
  std::optional<FidInfo> get(uint32_t fid) const;
  bool contains(uint32_t fid) const;  // without copying its path
  bool is_stale(uint32_t fid) const;
  void mark_stale(uint32_t fid);
  // Records a granted Tlock (or an unlock) with POSIX semantics for its owner
  // (proc_id, client_id): the range replaces whatever that owner held there.
  void record_lock(uint32_t fid, const Lock& lock);
  // Every fid at `from` or below it now lives under `to`.
  void rename(const Path& from, const Path& to);
  // The name `path` no longer leads to the file it led to (unlinked, or renamed over by
  // the file whose qid.path is keep): servers that name fids by path (diod) answer an
  // unopened fid walked there for nothing, or for the new file, so such fids go stale.
  // Open fids stay: the server holds the file open. Returns how many went stale.
  size_t mark_stale_at(const Path& path, uint64_t keep);
  // Fids in number order, for rebuilding after a reconnect.
  std::vector<std::pair<uint32_t, FidInfo>> snapshot() const;
  size_t size() const;

 private:
  // clone_entry / walked_entry: `to` from `from`'s current path joined with names, at
  // *qid (null: from's qid). False if from is gone or stale.
  bool derive(uint32_t from, uint32_t to, const std::vector<std::string>& names, const Qid* qid);

  mutable std::mutex mu_;
  std::map<uint32_t, FidInfo> fids_;
  std::vector<uint32_t> free_;
  uint32_t next_ = kRootFid + 1;
};

// "a/b/../c" style joins: appends names to base, resolving "." and "..".
Path join_path(const Path& base, const std::vector<std::string>& names);

}  // namespace netfs::p9
