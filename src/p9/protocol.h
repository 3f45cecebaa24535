// 9P2000.L protocol constants and the plain value types that travel in messages: message
// type numbers, header sizes, qids, attributes, directory entries, locks. One place for
// every number the wire format fixes, so codec, client and backend never disagree.
//
// Threading: constants and values only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace netfs::p9 {

inline constexpr const char* kVersion9P2000L = "9P2000.L";

// Every message starts with size[4] type[1] tag[2].
inline constexpr size_t kHeaderSize = 7;
// Twrite: header + fid[4] offset[8] count[4] = 23 bytes before the data.
inline constexpr size_t kTwriteHeaderSize = kHeaderSize + 4 + 8 + 4;
// P9_IOHDRSZ: the header room servers reserve for any I/O message. diod (and QEMU) refuse
// a Tread, Twrite or Treaddir whose count exceeds msize - 24, one byte less than Twrite's
// header alone would allow, so this is the largest payload one RPC can carry.
inline constexpr size_t kIoHeaderSize = 24;
// Below this the server is unusable for anything but tiny I/O; we refuse it.
inline constexpr uint32_t kMinMsize = 4096;

inline constexpr uint16_t kNoTag = 0xFFFF;
inline constexpr uint32_t kNoFid = 0xFFFFFFFF;
inline constexpr uint32_t kNoUname = 0xFFFFFFFF;
// Twalk carries at most this many names (MAXWELEM in Plan 9).
inline constexpr size_t kMaxWalkElems = 16;

enum class MsgType : uint8_t {
  kTlerror = 6,
  kRlerror = 7,
  kTstatfs = 8,
  kRstatfs = 9,
  kTlopen = 12,
  kRlopen = 13,
  kTlcreate = 14,
  kRlcreate = 15,
  kTsymlink = 16,
  kRsymlink = 17,
  kTmknod = 18,
  kRmknod = 19,
  kTrename = 20,
  kRrename = 21,
  kTreadlink = 22,
  kRreadlink = 23,
  kTgetattr = 24,
  kRgetattr = 25,
  kTsetattr = 26,
  kRsetattr = 27,
  kTxattrwalk = 30,
  kRxattrwalk = 31,
  kTxattrcreate = 32,
  kRxattrcreate = 33,
  kTreaddir = 40,
  kRreaddir = 41,
  kTfsync = 50,
  kRfsync = 51,
  kTlock = 52,
  kRlock = 53,
  kTgetlock = 54,
  kRgetlock = 55,
  kTlink = 70,
  kRlink = 71,
  kTmkdir = 72,
  kRmkdir = 73,
  kTrenameat = 74,
  kRrenameat = 75,
  kTunlinkat = 76,
  kRunlinkat = 77,
  kTversion = 100,
  kRversion = 101,
  kTauth = 102,
  kRauth = 103,
  kTattach = 104,
  kRattach = 105,
  kRerror = 107,  // legacy 9P2000; a .L server must not send it
  kTflush = 108,
  kRflush = 109,
  kTwalk = 110,
  kRwalk = 111,
  kTread = 116,
  kRread = 117,
  kTwrite = 118,
  kRwrite = 119,
  kTclunk = 120,
  kRclunk = 121,
  kTremove = 122,
  kRremove = 123,
};

// The name of a message type ("Twalk"), or "unknown".
const char* msg_name(uint8_t type);

// qid.type bits.
namespace qid_type {
inline constexpr uint8_t kDir = 0x80;
inline constexpr uint8_t kAppend = 0x40;
inline constexpr uint8_t kExcl = 0x20;
inline constexpr uint8_t kMount = 0x10;
inline constexpr uint8_t kAuth = 0x08;
inline constexpr uint8_t kTmp = 0x04;
inline constexpr uint8_t kSymlink = 0x02;
inline constexpr uint8_t kFile = 0x00;
}  // namespace qid_type

// The server's identity of a file: path is unique per file (diod: the inode number),
// version changes when the file's contents change (diod: the mtime).
struct Qid {
  uint8_t type = 0;
  uint32_t version = 0;
  uint64_t path = 0;
  friend bool operator==(const Qid&, const Qid&) = default;
};
inline constexpr size_t kQidSize = 13;

// Tgetattr request_mask / Rgetattr valid bits.
namespace getattr_mask {
inline constexpr uint64_t kMode = 0x1;
inline constexpr uint64_t kNlink = 0x2;
inline constexpr uint64_t kUid = 0x4;
inline constexpr uint64_t kGid = 0x8;
inline constexpr uint64_t kRdev = 0x10;
inline constexpr uint64_t kAtime = 0x20;
inline constexpr uint64_t kMtime = 0x40;
inline constexpr uint64_t kCtime = 0x80;
inline constexpr uint64_t kIno = 0x100;
inline constexpr uint64_t kSize = 0x200;
inline constexpr uint64_t kBlocks = 0x400;
inline constexpr uint64_t kBtime = 0x800;
inline constexpr uint64_t kGen = 0x1000;
inline constexpr uint64_t kDataVersion = 0x2000;
inline constexpr uint64_t kBasic = 0x7ff;
inline constexpr uint64_t kAll = 0x3fff;
}  // namespace getattr_mask

struct Attr {
  uint64_t valid = 0;
  Qid qid;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t nlink = 0;
  uint64_t rdev = 0;
  uint64_t size = 0;
  uint64_t blksize = 0;
  uint64_t blocks = 0;
  uint64_t atime_sec = 0, atime_nsec = 0;
  uint64_t mtime_sec = 0, mtime_nsec = 0;
  uint64_t ctime_sec = 0, ctime_nsec = 0;
  uint64_t btime_sec = 0, btime_nsec = 0;
  uint64_t gen = 0;
  uint64_t data_version = 0;
  friend bool operator==(const Attr&, const Attr&) = default;
};

// Tsetattr valid bits. A time bit without its *_SET bit means "the server's now".
namespace setattr_mask {
inline constexpr uint32_t kMode = 0x1;
inline constexpr uint32_t kUid = 0x2;
inline constexpr uint32_t kGid = 0x4;
inline constexpr uint32_t kSize = 0x8;
inline constexpr uint32_t kAtime = 0x10;
inline constexpr uint32_t kMtime = 0x20;
inline constexpr uint32_t kCtime = 0x40;
inline constexpr uint32_t kAtimeSet = 0x80;
inline constexpr uint32_t kMtimeSet = 0x100;
}  // namespace setattr_mask

struct SetAttr {
  uint32_t valid = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  uint64_t atime_sec = 0, atime_nsec = 0;
  uint64_t mtime_sec = 0, mtime_nsec = 0;
  friend bool operator==(const SetAttr&, const SetAttr&) = default;
};

struct StatFs {
  uint32_t type = 0;
  uint32_t bsize = 0;
  uint64_t blocks = 0;
  uint64_t bfree = 0;
  uint64_t bavail = 0;
  uint64_t files = 0;
  uint64_t ffree = 0;
  uint64_t fsid = 0;
  uint32_t namelen = 0;
  friend bool operator==(const StatFs&, const StatFs&) = default;
};

// One Rreaddir record: qid[13] offset[8] type[1] name[s]. `offset` is the cookie to send
// in the next Treaddir to continue after this entry.
struct Dirent {
  Qid qid;
  uint64_t offset = 0;
  uint8_t type = 0;  // DT_* of the entry
  std::string name;
  friend bool operator==(const Dirent&, const Dirent&) = default;
};

namespace lock_type {
inline constexpr uint8_t kRdlck = 0;
inline constexpr uint8_t kWrlck = 1;
inline constexpr uint8_t kUnlck = 2;
}  // namespace lock_type
namespace lock_flags {
inline constexpr uint32_t kBlock = 1;
inline constexpr uint32_t kReclaim = 2;
}  // namespace lock_flags
namespace lock_status {
inline constexpr uint8_t kSuccess = 0;
inline constexpr uint8_t kBlocked = 1;
inline constexpr uint8_t kError = 2;
inline constexpr uint8_t kGrace = 3;
}  // namespace lock_status

// A POSIX record lock as Tlock/Tgetlock/Rgetlock carry it.
struct Lock {
  uint8_t type = lock_type::kUnlck;
  uint64_t start = 0;
  uint64_t length = 0;  // 0 = to the end of the file
  uint32_t proc_id = 0;
  std::string client_id;
  friend bool operator==(const Lock&, const Lock&) = default;
};

// Tunlinkat flags.
inline constexpr uint32_t kAtRemoveDir = 0x200;

}  // namespace netfs::p9
