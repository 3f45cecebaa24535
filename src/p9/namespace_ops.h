// Namespace: the metadata operations a filesystem layer (FUSE) needs from a 9P server,
// as blocking calls that return Results: lookup/walk, getattr, setattr, create, mkdir,
// unlink, rmdir, rename, readdir, symlink, readlink, link, mknod, statfs, fsync, xattrs
// and POSIX locks, plus simple synchronous read and write for tools and tests.
//
// Fids: every call that yields a new fid (walk, lookup, create) records it in the
// client's FidTable with its path, so a reconnect can rebuild it; clunk() forgets it
// and sends Tclunk without waiting for the reply (Client::release_fid).
// File identity is the qid: qid.path names the file, qid.version its contents' version.
//
// Replay (docs/p9.md): idempotent operations are resent by the client after a reconnect.
// Operations that change the namespace (create, mkdir, mknod, symlink, link, unlink,
// rmdir, rename) are not: if the connection drops while one is in flight, it may or may
// not have happened, so the outcome is decided by looking at the server afterwards (does
// the name exist now? is it the file we linked?), never by sending it blindly again.
//
// Creates (issue 7): Tlcreate turns its fid into the new file, so it needs a clone of the
// directory fid, one Twalk round trip. Namespace keeps one spare clone per directory fid
// that had a create: each create takes the spare (or, none being ready, clones
// synchronously) and at once sends the Twalk for the next spare without waiting for it,
// so that round trip overlaps the Tlcreate and a run of creates in one directory waits
// for one round trip fewer each after the first. A spare is an ordinary fid in the
// FidTable (path of its directory), so a reconnect rebuilds it by path; one that could
// not be rebuilt (stale) is clunked instead of used. clunk(dir) clunks dir's spare, and
// a clone still in flight clunks its fid when it lands; so does the destructor.
//
// Threading: thread-safe; calls block the caller. Requires: not called from a client
// completion; the Client outlives the Namespace.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "netfs/file_attr.h"
#include "netfs/result.h"
#include "p9/client.h"
#include "p9/protocol.h"

namespace netfs::p9 {

// The engine's view of Rgetattr's attributes: qid.path is the file's identity, and
// qid.version its version.
inline FileAttr to_file_attr(const Attr& a) {
  FileAttr f;
  f.id = a.qid.path;
  f.version = a.qid.version;
  f.mode = a.mode;
  f.uid = a.uid;
  f.gid = a.gid;
  f.nlink = a.nlink;
  f.rdev = a.rdev;
  f.size = a.size;
  f.blksize = a.blksize;
  f.blocks = a.blocks;
  f.atime_sec = a.atime_sec, f.atime_nsec = a.atime_nsec;
  f.mtime_sec = a.mtime_sec, f.mtime_nsec = a.mtime_nsec;
  f.ctime_sec = a.ctime_sec, f.ctime_nsec = a.ctime_nsec;
  return f;
}

inline Result<FileAttr> to_file_attr(const Result<Attr>& a) {
  if (!a.ok()) return a.error();
  return to_file_attr(*a);
}

struct Entry {
  uint32_t fid = kNoFid;
  Qid qid;
};

struct Opened {
  Qid qid;
  uint32_t iounit = 0;  // 0: the server sets no limit beyond msize
};

struct Created {
  uint32_t fid = kNoFid;  // open with the flags given
  Qid qid;
  uint32_t iounit = 0;
};

class Namespace {
 public:
  explicit Namespace(Client& client) : c_(client), spares_(std::make_shared<Spares>()) {}
  ~Namespace();  // clunks the spare directory clones (without waiting)
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  static constexpr uint32_t root() { return FidTable::kRootFid; }

  // A new fid for `from` walked along names (none: a clone of from). ENOENT if any name
  // is missing (no fid is left behind).
  Result<Entry> walk(uint32_t from, const std::vector<std::string>& names);
  Result<Entry> lookup(uint32_t dir, std::string_view name) { return walk(dir, {std::string(name)}); }
  // Returns at once (EINVAL only for the root fid); the number is reused after Rclunk.
  Status clunk(uint32_t fid);
  Result<Opened> open(uint32_t fid, uint32_t flags);

  Result<Attr> getattr(uint32_t fid, uint64_t mask = getattr_mask::kBasic);
  Status setattr(uint32_t fid, const SetAttr& attr);
  Result<StatFs> statfs(uint32_t fid);
  Status fsync(uint32_t fid, bool datasync);

  // Creates and opens a regular file: returns a new fid (dir stays as it was).
  Result<Created> create(uint32_t dir, std::string_view name, uint32_t flags, uint32_t mode, uint32_t gid = 0);
  Result<Qid> mkdir(uint32_t dir, std::string_view name, uint32_t mode, uint32_t gid = 0);
  Result<Qid> symlink(uint32_t dir, std::string_view name, std::string_view target, uint32_t gid = 0);
  Result<Qid> mknod(uint32_t dir, std::string_view name, uint32_t mode, uint32_t major, uint32_t minor,
                    uint32_t gid = 0);
  Status link(uint32_t dir, uint32_t target, std::string_view name);
  Status unlink(uint32_t dir, std::string_view name);
  Status rmdir(uint32_t dir, std::string_view name);
  Status rename(uint32_t olddir, std::string_view oldname, uint32_t newdir, std::string_view newname);
  Result<std::string> readlink(uint32_t fid);

  // One Treaddir on an open directory fid (count 0: as much as msize allows).
  Result<std::vector<Dirent>> readdir(uint32_t fid, uint64_t offset, uint32_t count = 0);
  // Every entry of the directory `dir` (which stays unopened): clone, open, read, clunk.
  Result<std::vector<Dirent>> readdir_all(uint32_t dir);

  Result<Bytes> getxattr(uint32_t fid, std::string_view name);
  Result<std::vector<std::string>> listxattr(uint32_t fid);
  Status setxattr(uint32_t fid, std::string_view name, ByteSpan value, uint32_t flags = 0);
  Status removexattr(uint32_t fid, std::string_view name);

  // Tlock: the server's status (lock_status::k*). Locks live in the server's session and
  // are lost if the connection drops; see docs/p9.md.
  Result<uint8_t> lock(uint32_t fid, const Lock& lock, uint32_t flags = 0);
  Result<Lock> getlock(uint32_t fid, const Lock& lock);

  // Synchronous data I/O on an open fid, split into msize-sized RPCs (short at EOF).
  Result<size_t> read(uint32_t fid, uint64_t offset, void* buf, size_t n);
  Result<size_t> write(uint32_t fid, uint64_t offset, const void* buf, size_t n);

  // Test hook: waits (bounded) until no spare clone is in flight. False on timeout.
  bool test_wait_spares(std::chrono::milliseconds limit);

 private:
  // Spare clones of directory fids for create(). Shared with the clone completions, which
  // may run after the Namespace is gone (they then clunk what they made).
  struct Spares {
    struct Slot {
      uint32_t fid = kNoFid;  // a ready clone of the directory fid
      uint64_t pending = 0;   // the clone in flight (its id), 0: none
    };
    std::mutex mu;  // never held while calling the Client; nests only FidTable's leaf lock
    std::condition_variable idle;
    std::unordered_map<uint32_t, Slot> by_dir;  // by directory fid
    uint64_t next_id = 1;
    size_t in_flight = 0;
    bool closed = false;  // the Namespace is gone: landing clones are clunked
  };
  // dir's ready spare (taken: no other create gets it), or kNoFid.
  uint32_t take_spare(uint32_t dir);
  // Starts the asynchronous clone of dir for the next create unless one is ready or in
  // flight. Does not wait.
  void refill_spare(uint32_t dir);
  // dir is being clunked: its spare goes too.
  void drop_spare(uint32_t dir);

  Path path_of(uint32_t fid) const;
  // Does dir/name exist now? Its qid, or ENOENT (or the error that stopped the check).
  Result<Qid> probe(uint32_t dir, std::string_view name);
  Result<Bytes> read_xattr_fid(uint32_t fid, uint64_t size);
  Status remove_name(uint32_t dir, std::string_view name, bool want_dir);

  Client& c_;
  // Servers without Tunlinkat / Trenameat (diod 1.0.24) answer EOPNOTSUPP once; after
  // that the older Tremove / Trename are used directly.
  std::atomic<bool> no_unlinkat_{false};
  std::atomic<bool> no_renameat_{false};
  std::shared_ptr<Spares> spares_;
};

}  // namespace netfs::p9
