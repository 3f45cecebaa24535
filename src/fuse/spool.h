// Spool: dirty data the mount daemon could not write to the server before it had to exit
// (plain umount, SIGTERM, SIGINT with the server gone or refusing), saved durably on
// local disk, listed by `netfs spool`, and uploaded by the next mount of the same export
// (Filesystem::replay_spool). Issue 15, finding 5: an exit used to drop such data with
// only a line in the log.
//
// One entry per file: ID.data holds the file's unwritten ranges back to back, ID.manifest
// says what they are (the export, the path, the ranges, the file's size and the server's
// attributes we last agreed with). Durable order: the data is written and fsynced, then
// the manifest is written to a temporary name, fsynced, renamed into place and the
// directory fsynced. A manifest therefore never names bytes that are not on disk: a
// crash before the rename leaves only files no listing reads (removed by the next save
// or replay in that directory).
//
// With an encrypted cache (`-o cache_key`, docs/cache.md) entries are sealed with the
// cache's Cipher: the data in chunks of kSpoolChunk bytes, the manifest whole, each under
// associated data naming the entry, and the entry's name is a keyed hash; nothing in the
// spool then shows the export, the path or the bytes. Sealed entries that this Spool
// cannot open (no key, another key) are counted by list(), never removed.
//
// Threading: a Spool is a directory name; calls on it may run from any thread. Two
// daemons replaying one export's entries at once are not guarded against.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "netfs/result.h"

namespace netfs::cache {
class Cipher;
}

namespace netfs::fuse {

struct MountOptions;

struct SpoolEntry {
  std::string id;          // the stem of its two files in the spool directory
  std::string export_url;  // RemoteUrl::to_string() of the mount that saved it
  std::string path;        // from the export's root: "/dir/file"
  uint64_t size = 0;       // the file's size as the mount had it
  uint64_t saved_at = 0;   // unix seconds
  // The server's attributes when we last agreed with it (close-to-open's record).
  bool seen_valid = false;
  uint64_t qid_path = 0;
  uint32_t version = 0;
  uint64_t mtime_sec = 0, mtime_nsec = 0;
  uint64_t server_size = 0;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // (offset, length), in file order
  bool sealed = false;  // its files are sealed with the cache's key

  uint64_t bytes() const;
};

// Where a mount without `spool_dir` keeps its spool: `cache_dir`/spool with a cache,
// else /var/lib/netfs/spool for root, else $XDG_STATE_HOME/netfs/spool (or
// ~/.local/state/netfs/spool).
std::string spool_dir_for(const MountOptions& opts);
std::string default_spool_dir();

// Plaintext bytes per sealed chunk of an entry's data file.
constexpr size_t kSpoolChunk = 64 * 1024;

class Spool {
 public:
  // cipher: the encrypted cache's (it must outlive the Spool); null: entries in clear.
  explicit Spool(std::string dir, const cache::Cipher* cipher = nullptr) : dir_(std::move(dir)), cipher_(cipher) {}
  const std::string& dir() const { return dir_; }

  // Saves one file's ranges (data holds them back to back) durably, as described above;
  // creates the directory (mode 0700) if needed. Fills e.id.
  Status save(SpoolEntry& e, const std::vector<std::byte>& data);
  // Complete entries, oldest first; only those of export_url unless it is empty. A
  // directory that does not exist has none. *unreadable (if given) counts the sealed
  // entries this Spool has no key for, or that do not authenticate under its key.
  Result<std::vector<SpoolEntry>> list(const std::string& export_url = "", size_t* unreadable = nullptr) const;
  // Reads len bytes of the entry's data starting at byte `at` of the data file.
  Status read(const SpoolEntry& e, uint64_t at, void* buf, size_t len) const;
  // Removes the entry: the manifest first (then it no longer exists), then its data.
  Status remove(const SpoolEntry& e);

 private:
  std::string dir_;
  const cache::Cipher* cipher_;
};

}  // namespace netfs::fuse
