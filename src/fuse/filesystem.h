// Filesystem: the FUSE adapter's brain, with no libfuse types in its interface so that
// it can be driven by tests without a mount. It turns kernel inode numbers and handles
// into engine calls for data (perform_write, buffered_read, fsync, truncate, with a
// Flusher running) and 9P namespace calls for metadata, after what fs/9p's
// vfs_inode_dotl.c / vfs_file.c do for the kernel.
//
// Coherency (docs/fuse.md): close-to-open. close() (FUSE flush) writes the file's dirty
// data back and reports a write-back error; open() compares the server's attributes
// (qid.version, mtime, size) with those seen when we last agreed with the server and, if
// the file changed elsewhere, drops our clean cached data (engine) and tells the kernel
// not to keep its page cache. Dirty data is never dropped by that.
//
// Threading: every method is thread-safe; FUSE calls them from many worker threads.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <fcntl.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/store.h"
#include "cache/store_cookie.h"
#include "fuse/fid_pool.h"
#include "fuse/file_handle.h"
#include "fuse/inode_table.h"
#include "fuse/mount_options.h"
#include "fuse/remote_url.h"
#include "fuse/spool.h"
#include "netfs/engine.h"
#include "netfs/metrics.h"
#include "netfs/result.h"
#include "netfs/write.h"
#include "p9/backend.h"
#include "p9/client.h"
#include "p9/namespace_ops.h"

namespace netfs::fuse {

struct EntryReply {
  uint64_t ino = 0;  // readdirplus: 0 = the name only (no attributes, no reference)
  struct stat attr {};
};

class TaskPool;
class FileBackend;

// Inode::landed_seq() of an inode, sampled before a getattr (for revalidate).
struct LandedSample {
  const Inode* inode = nullptr;
  uint64_t seq = kLandedSeqUnknown;
};

// Who asked for a new file (the FUSE request's uid and gid): its owner.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
};

// A file whose data could not be written back.
struct UnwrittenFile {
  std::string path;  // from the export root, best effort ("?" when unknown)
  uint64_t dirty_bytes = 0;
  int error = 0;  // errno of the write-back; EBUSY: fsync succeeded, a writer dirtied it again
};

// setattr's to_set bits; the values are FUSE's FUSE_SET_ATTR_*.
namespace set_attr {
inline constexpr int kMode = 1 << 0;
inline constexpr int kUid = 1 << 1;
inline constexpr int kGid = 1 << 2;
inline constexpr int kSize = 1 << 3;
inline constexpr int kAtime = 1 << 4;
inline constexpr int kMtime = 1 << 5;
inline constexpr int kAtimeNow = 1 << 7;
inline constexpr int kMtimeNow = 1 << 8;
inline constexpr int kCtime = 1 << 10;
}  // namespace set_attr

// What a mount is made of, built by the netfs tool for the URL's scheme
// (tools/netfs/mount_wiring.h) and handed to Filesystem::assemble, which owns them from
// then on.
struct MountParts {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Flusher> flusher;     // running on engine
  std::unique_ptr<cache::Store> store;  // null: no local cache (-o cache_dir)
  std::unique_ptr<p9::Client> client;   // a session attached to the export
};

class Filesystem {
 public:
  // Takes over the parts and makes the export's root the root node, then replays the
  // spool. On failure *why says why (the root cannot be read, or is no directory).
  static Result<std::unique_ptr<Filesystem>> assemble(const RemoteUrl& url, const MountOptions& opts,
                                                      MountParts parts, std::string* why);
  ~Filesystem();  // writes back what it can, then disconnects
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  // ---- namespace ----
  Result<EntryReply> lookup(uint64_t parent, std::string_view name);
  void forget(uint64_t ino, uint64_t nlookup);
  Result<struct stat> getattr(uint64_t ino);
  Result<struct stat> setattr(uint64_t ino, const struct stat& attr, int to_set);
  Result<std::string> readlink(uint64_t ino);
  // New files belong to `who` (give_to_caller).
  Result<EntryReply> mknod(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev, const Caller& who);
  Result<EntryReply> mkdir(uint64_t parent, std::string_view name, mode_t mode, const Caller& who);
  Result<EntryReply> symlink(uint64_t parent, std::string_view name, std::string_view target, const Caller& who);
  Result<EntryReply> link(uint64_t ino, uint64_t newparent, std::string_view name);
  Status unlink(uint64_t parent, std::string_view name);
  Status rmdir(uint64_t parent, std::string_view name);
  // flags: RENAME_NOREPLACE is honoured (checked, then renamed: see docs/fuse.md);
  // RENAME_EXCHANGE has no 9P message and fails with EINVAL.
  Status rename(uint64_t parent, std::string_view name, uint64_t newparent, std::string_view newname,
                unsigned flags);
  Result<struct statvfs> statfs();

  // ---- files ----
  struct Opened {
    FileHandle* fh = nullptr;
    bool keep_cache = false;  // the kernel's page cache of the file is still valid
    bool direct_io = false;   // bypass the kernel page cache for this handle
  };
  Result<Opened> open(uint64_t ino, int flags);
  // Tlcreate, then Tgetattr on the created (open) fid: no walk, no second getattr, no
  // close-to-open check of what we just made (docs/fuse.md, "Creates").
  Result<std::pair<EntryReply, Opened>> create(uint64_t parent, std::string_view name, mode_t mode, int flags,
                                               const Caller& who);
  Result<size_t> read(FileHandle& fh, uint64_t off, void* buf, size_t len);
  Result<size_t> write(FileHandle& fh, uint64_t off, const void* buf, size_t len);
  // close(2): write back, report write-back errors, then drop the POSIX locks of
  // lock_owner (the closing process) on the file, as closing any descriptor of a file
  // does (the kernel sends no unlock of its own for FUSE locks: it leaves it to flush).
  Status flush(FileHandle& fh, uint64_t lock_owner);
  void release(FileHandle* fh);
  Status fsync(FileHandle& fh, bool datasync);

  // ---- directories ----
  Result<DirHandle*> opendir(uint64_t ino);
  // readdirplus: entries [first, first + count) of dh. An entry with ino != 0 carries
  // attributes and one lookup reference (the caller forgets it if the kernel never gets
  // the reply); "." and ".." never do. Known nodes whose attributes are younger than
  // attr_timeout cost nothing; when dh->fetch_attrs, the others are fetched in parallel
  // (a getattr for a known node, a walk + getattr for an unknown one); otherwise they
  // go out as names only and the kernel looks them up if it wants them.
  std::vector<EntryReply> readdirplus(DirHandle& dh, size_t first, size_t count);
  void releasedir(DirHandle* dh);

  // ---- xattrs and locks ----
  Result<p9::Bytes> getxattr(uint64_t ino, std::string_view name);
  Result<std::vector<std::string>> listxattr(uint64_t ino);
  Status setxattr(uint64_t ino, std::string_view name, const void* value, size_t size, int flags);
  Status removexattr(uint64_t ino, std::string_view name);
  // POSIX record locks (fcntl, lockf): arbitrated between local owners by the node's
  // LockTable, with one whole-file Tlock on the server for all of them (docs/fuse.md).
  // lk.l_pid is the requesting process (F_GETLK reports it to others). sleep: wait until
  // granted, or EINTR once *cancel is true (then call wake_lock_waiters).
  Status setlk(FileHandle& fh, const struct flock& lk, uint64_t owner, bool sleep,
               const std::atomic<bool>* cancel = nullptr);
  Result<struct flock> getlk(FileHandle& fh, const struct flock& lk, uint64_t owner);
  void wake_lock_waiters(FileHandle& fh);
  // flock(2) on the server: a whole-file Tlock on the handle's own lock fid. op is
  // LOCK_SH, LOCK_EX or LOCK_UN, with LOCK_NB: EWOULDBLOCK instead of waiting (else
  // polled as setlk is, until granted, or EINTR once *cancel is true: then call
  // wake_flock_waiters).
  Status flock(FileHandle& fh, int op, uint64_t owner, const std::atomic<bool>* cancel = nullptr);
  void wake_flock_waiters();

  // ---- for `netfs umount`, `netfs stats` ----
  // Writes back every file's dirty data; returns the files that could not be written
  // (their data stays dirty in memory).
  std::vector<UnwrittenFile> sync_all();
  // Every counter of the engine, the 9P client, the mount and its cache, once each; the
  // printers below all walk it (include/netfs/metrics.h).
  Metrics metrics();
  std::string stats_text();
  std::string stats_json();
  // Prometheus text exposition, each sample labelled mountpoint="...".
  std::string stats_prometheus(const std::string& mountpoint);
  // `netfs cache`: the local cache's usage and counters (JSON); drop empties it.
  std::string cache_json();
  Status cache_drop();
  // `netfs trace`: one path from the export's root of the file with FUSE inode number
  // ino (a file with several names: the latest); empty when the mount does not know the
  // file now, or its names are being changed (never waits for the server).
  std::string trace_path(uint64_t ino);
  cache::Store* store() { return store_.get(); }
  Engine& engine() { return *engine_; }
  p9::Client& client() { return *client_; }
  const MountOptions& options() const { return opts_; }
  const RemoteUrl& url() const { return url_; }
  size_t node_count() const { return table_->size(); }

 private:
  Filesystem(const RemoteUrl& url, const MountOptions& opts);
  Result<std::shared_ptr<Node>> node(uint64_t ino);
  // The kernel's view of attributes a of n. fresh: a just came from the server (recorded
  // in n for readdirplus).
  struct stat to_stat(Node& n, const FileAttr& a, bool fresh = true);
  // A kernel request touched n: count it for the directory it was found in.
  void note_use(Node& n);
  Result<FileAttr> fetch_attr(Node& n);
  // getattr of an open file that no name the mount knows leads to any more (unlinked,
  // or renamed over, here or elsewhere): diod (1.0.24) answers getattr by path, not
  // through the open file, so the mount answers from what it knows: the attributes the
  // server last gave, our size, st_nlink 0. nullopt when n is not open.
  std::optional<struct stat> stat_of_nameless_open(Node& n);
  // Does a, what fetch_attr gave for n, say that no name leads to n's file any more
  // (ENOENT, ESTALE, or another file's attributes)?
  bool nameless(Node& n, const Result<FileAttr>& a);
  // open() of such a file (through /proc/PID/fd/N): a new handle on the open I/O fid, with
  // no close-to-open check. nullopt when n is not open.
  std::optional<Result<Opened>> open_nameless(const std::shared_ptr<Node>& n, int flags);
  // Walks parent/name, fetches attributes and enters the node in the table. made_for: we
  // just made it for this caller (give_to_caller).
  Result<EntryReply> enter(Node& parent, std::string_view name, const Caller* made_for = nullptr);
  Result<EntryReply> make_entry(uint64_t parent, std::string_view name, const Caller& who,
                                const std::function<Status(uint32_t dir_fid)>& make);
  // A file we just made in directory parent, on fid, with the server's attributes *a:
  // when attached as root and the caller is someone else, make it the caller's (one
  // Tsetattr); *a follows. Best effort: a server that cannot chown leaves the file as
  // it made it (logged once), and the create still succeeds.
  void give_to_caller(uint32_t fid, const Caller& who, Node& parent, FileAttr* a);
  // open() once the attributes are known: attach the I/O fid or check close-to-open.
  // landed: sampled before the getattr that gave a (ignored unless n's inode is still
  // the one sampled).
  Result<Opened> open_node(const std::shared_ptr<Node>& n, int flags, const FileAttr& a, LandedSample landed = {});
  // Requires n->io_mu held and n->inode set.
  FileHandle* new_handle_locked(const std::shared_ptr<Node>& n, int flags);
  // The open flags that act on the file, for every open path (open, create of a name
  // that exists, direct_io or not): O_TRUNC, as a truncate to 0 through the engine, so
  // that our cached and dirty data (of other handles too), zero_point and the local
  // cache go as for truncate(2). server_truncated: Tlcreate already cut the server's
  // file, only our copy is left.
  Status apply_open_flags(FileHandle& fh, bool server_truncated = false);
  // An open that succeeded, with apply_open_flags done; if that fails, the handle is
  // released and the error returned.
  Result<Opened> finish_open(Result<Opened> o, bool server_truncated = false);
  // truncate(2) of n to size: through the engine when n has an Inode (inode), else one
  // Tsetattr. Cached granules of the local cache past the end go too.
  Status truncate_node(Node& n, Inode* inode, uint64_t size);
  // The engine's set_size for inode (FileBackend): a Tsetattr on the metadata fid of its
  // node, not on the I/O fid. diod (1.0.24) truncates by a fid's path, an open fid's too,
  // and the I/O fid keeps the name the file was first opened by: once that name is gone
  // it cuts nothing (ENOENT), once another file is renamed over it, that file. The
  // metadata fid follows the file's names (FidPool), and a getattr first checks that it
  // still leads to this file. A file with no name left cannot be cut (ENOENT).
  friend class FileBackend;
  Status set_size_of(Inode& inode, uint64_t size);
  // Requires n.io_mu held: n.inode was just made; set_size_of finds n by it.
  void note_io_node_locked(Node& n);
  void swap_fid(Node& n, uint32_t fid);
  // flush's write-back part.
  Status flush_data(FileHandle& fh);
  // The node's lock table, made on first use.
  std::shared_ptr<LockTable> lock_table(const std::shared_ptr<Node>& n);
  // The node's lock table if it has one (null: no POSIX lock on the file).
  std::shared_ptr<LockTable> lock_table_if_any(Node& n);
  // The table's server side: moves the node's whole-file Tlock from `from` to `to`.
  Status posix_server_lock(Node& n, ServerMode from, ServerMode to);
  // n's posix_lock_fid, opened (open_lock_fid) and recorded when it has none. Called only
  // from the table's server calls, which never run two at once for one table.
  Result<uint32_t> posix_lock_fid(Node& n);
  // A fid of n's file of its own, walked from the root along n's path and opened
  // read-only, for a server lock that is not the I/O fid's (flock, POSIX locks). When the
  // path no longer leads to the file (unlinked, renamed on the server), a clone of the
  // I/O fid opened read-only, and if the server cannot open that either, the I/O fid
  // itself (borrowed: never clunked for the lock; its lock is let go with an unlock).
  struct LockFid {
    uint32_t fid = p9::kNoFid;
    bool borrowed = false;  // it is n's I/O fid
  };
  Result<LockFid> open_lock_fid(Node& n);
  // Lets go of a lock fid: a clunk (which drops its lock), or for a borrowed I/O fid an
  // unlock of k's owner.
  void close_lock_fid(uint32_t fid, bool borrowed, p9::Lock k);
  p9::Lock flock_request(int op, uint64_t owner) const;
  p9::Lock posix_request(ServerMode to) const;
  // Polls Tlock on fid until it is granted (sleep) or refused: EAGAIN. A sleeping poll
  // ends with EINTR once *cancel is true (checked between tries; wake_flock_waiters cuts
  // the pause short).
  Status lock_polled(uint32_t fid, const p9::Lock& k, bool sleep, const std::atomic<bool>* cancel = nullptr);
  // After a directory moved from `from` to `prefix`: new fids for every node whose path
  // lies below it, and their remembered names moved along.
  void refresh_below(const p9::Path& from, const p9::Path& prefix);
  // Requires n.io_mu held: opens the I/O fid and creates the engine Inode (with its cache
  // cookie, checked against the server's attributes a).
  Status attach_io_locked(Node& n, const FileAttr& a);
  // The cache cookie of n (null without a cache, or when the cache cannot open it).
  std::shared_ptr<cache::StoreCookie> cookie_for(Node& n, const cache::Coherency& c);
  // Requires n.io_mu held: detaches n's Inode and cookie; a cookie whose Inode is still
  // used by requests in flight is kept until they finish.
  void detach_io_locked(Node& n);
  // Makes `fid`, an I/O fid create opened read-write, n's I/O fid, with a cache object
  // emptied of whatever it held under n's qid (io_mu held).
  void attach_created_io_locked(Node& n, uint32_t fid, uint64_t size);
  void record_seen_locked(Node& n, const FileAttr& a);
  // After a close's write-back: fetches n's attributes asynchronously, for the next open
  // to adopt as seen (Node::flush_rec).
  void record_after_flush(const std::shared_ptr<Node>& n, uint64_t size);
  // Requires n.io_mu held: adopts an arrived flush record that nothing has superseded.
  void adopt_flush_record_locked(Node& n);
  // The full listing of directory n: from the cached listing object when the directory's
  // (qid.version, mtime, size) still match it, else from the server (then stored).
  Result<std::vector<p9::Dirent>> listing_of(const std::shared_ptr<Node>& n);
  Result<std::vector<p9::Dirent>> fetch_listing(Node& n);
  // We changed an entry of directory d (or tried to): its cached listing goes.
  void listing_changed(Node& d);
  // Listings live under their own server identity, apart from file contents.
  std::string listing_server() const { return url_.to_string() + "#listings"; }
  // A node the kernel forgot: write back, then clunk its fids (or keep it, still dirty).
  void retire(std::shared_ptr<Node> n);
  // FidPool's release: gives back n's walked fid, and its I/O fid (with the engine inode
  // and its cached data) when no file of it is open and nothing of it is dirty or in
  // flight. Never blocks (try-locks); true when n holds no fid any more.
  bool release_fids(Node& n);
  std::string path_of(Node& n);
  // ---- the spool (src/fuse/spool.h) ----
  // At exit, after the last write-back: saves every file's dirty data to the spool.
  void spool_unwritten();
  // At mount: uploads the spool's entries of this export, or writes them next to a file
  // that changed on the server since (NAME.netfs-conflict-TIMESTAMP); an entry that
  // cannot be written stays for the next mount.
  void replay_spool();
  Status replay_one(const Spool& spool, const SpoolEntry& e, std::string* where);
  // A path for the spool that needs no server: the I/O fid's, else the node's last name.
  std::string spool_path_of(Node& n, Inode& inode);
  // The engine's refusal hook: logs the start (error) and end (0) of a file's episode of
  // lasting write-back refusals, once each.
  void log_refusal(Inode& inode, int error);
  // With no opener: if we deleted the file's last name (Node::deleted), drops its dirty
  // data (netfs::discard) and returns true.
  bool drop_if_deleted(Node& n, Inode& inode);
  // The node of a file with dirty data named dir/name, by the paths of the I/O fids of
  // the engine's dirty inodes (no RPC); null when none.
  std::shared_ptr<Node> dirty_node_named(Node& dir, std::string_view name);
  // After a forget or the last release: a node the kernel no longer knows, nobody has
  // open and the table keeps only for its dirty data is dropped and retired when its
  // file has been deleted.
  void drop_if_deleted_and_unused(const std::shared_ptr<Node>& n);

  const RemoteUrl url_;
  const MountOptions opts_;
  const bool attached_as_root_;  // new files must be given to their callers
  std::unique_ptr<cache::Store> store_;  // destroyed last: cookies point into it
  std::mutex parked_mu_;
  std::vector<std::pair<std::weak_ptr<Inode>, std::shared_ptr<cache::StoreCookie>>> parked_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<p9::Client> client_;
  std::unique_ptr<p9::Namespace> ns_;
  std::unique_ptr<p9::Backend> backend_;  // a FileBackend
  std::mutex io_nodes_mu_;
  std::unordered_map<const Inode*, Node*> io_nodes_;  // each attached Inode's node
  std::unique_ptr<Flusher> flusher_;
  std::unique_ptr<FidPool> fid_pool_;
  std::unique_ptr<InodeTable> table_;
  std::unique_ptr<TaskPool> pool_;  // readdirplus's parallel attribute fetches
  std::mutex orphans_mu_;
  std::vector<std::shared_ptr<Node>> orphans_;  // forgotten but still dirty
  std::string lock_client_id_;
  // The pauses of polling lock waits (lock_polled): an interrupt wakes them all, and each
  // looks at its own cancel flag.
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  std::atomic<uint64_t> listings_fetched_{0};  // full listings read from the server
  std::atomic<uint64_t> ns_gen_{0};  // bumped by every namespace change we make
  // Requires n.io_mu held: a is what the server holds for n now.
  void record_attr_locked(Node& n, const FileAttr& a);
};

}  // namespace netfs::fuse
