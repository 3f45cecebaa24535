// FileAttr and ChangeToken: what a backend tells the filesystem layer about a file, in
// the engine's terms rather than a protocol's. They are the value types of the
// backend-neutral filesystem interface below FUSE (issue 17, docs/backend.md): the 9P
// backend converts its Rgetattr into a FileAttr (p9::to_file_attr), and the FUSE layer
// keeps, compares and hands out only these.
//
// Threading: plain values.
#pragma once

#include <cstdint>

namespace netfs {

// Which version of a file's contents the server holds. Close-to-open compares the token
// the server gives at open with the one recorded when we last agreed with it, and the
// local cache stores it as its coherency data: a different token means the file changed
// elsewhere. 9P: qid.version, mtime and size (diod's qid.version is often 0, so the
// times and the size carry the comparison); a protocol with entity tags (S3's ETag) puts
// a hash of the tag in version.
struct ChangeToken {
  uint64_t version = 0;
  uint64_t mtime_sec = 0, mtime_nsec = 0;
  uint64_t size = 0;
  friend bool operator==(const ChangeToken&, const ChangeToken&) = default;
};

struct FileAttr {
  uint64_t id = 0;       // the file's identity on the server, the same under each of its names (9P: qid.path)
  uint64_t version = 0;  // moves when the contents change (9P: qid.version); 0 when the server has none
  uint32_t mode = 0;     // file type and permission bits, as st_mode
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t nlink = 0;
  uint64_t rdev = 0;
  uint64_t size = 0;     // bytes
  uint64_t blksize = 0;  // 0: the server suggests none
  uint64_t blocks = 0;   // 512-byte blocks allocated
  uint64_t atime_sec = 0, atime_nsec = 0;
  uint64_t mtime_sec = 0, mtime_nsec = 0;
  uint64_t ctime_sec = 0, ctime_nsec = 0;

  ChangeToken token() const { return ChangeToken{version, mtime_sec, mtime_nsec, size}; }
  friend bool operator==(const FileAttr&, const FileAttr&) = default;
};

}  // namespace netfs
