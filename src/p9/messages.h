// The 9P2000.L messages a filesystem needs, one struct per message, T and R side by side.
//
// Each struct lists its fields once, in wire order, in fields(): the encoder, the
// bounds-checked decoder and the trace formatter (codec.h) all walk that one list, so the
// packing and unpacking of a message cannot drift apart. kType names the message.
//
// Threading: plain values.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "p9/protocol.h"
#include "p9/wire.h"

namespace netfs::p9::msg {

// Field shapes beyond integers, strings and the protocol structs.
struct Names {  // nwname[2] nwname*(wname[s])
  std::vector<std::string> v;
  friend bool operator==(const Names&, const Names&) = default;
};
struct Qids {  // nwqid[2] nwqid*(qid[13])
  std::vector<Qid> v;
  friend bool operator==(const Qids&, const Qids&) = default;
};
struct Data {  // count[4] data[count]; a view into the message it came from
  ByteSpan v;
  friend bool operator==(const Data& a, const Data& b) {
    return a.v.size() == b.v.size() && std::equal(a.v.begin(), a.v.end(), b.v.begin());
  }
};
struct Dirents {  // count[4] then records of qid[13] offset[8] type[1] name[s]
  std::vector<Dirent> v;
  friend bool operator==(const Dirents&, const Dirents&) = default;
};

#define NETFS_P9_MSG(Name)                                 \
  static constexpr MsgType kType = MsgType::k##Name;       \
  static constexpr const char* kName = #Name;              \
  friend bool operator==(const Name&, const Name&) = default

struct Tversion {
  uint32_t msize = 0;
  std::string version;
  template <class F> void fields(F& f) { f(msize), f(version); }
  NETFS_P9_MSG(Tversion);
};
struct Rversion {
  uint32_t msize = 0;
  std::string version;
  template <class F> void fields(F& f) { f(msize), f(version); }
  NETFS_P9_MSG(Rversion);
};

struct Tauth {
  uint32_t afid = kNoFid;
  std::string uname, aname;
  uint32_t n_uname = kNoUname;
  template <class F> void fields(F& f) { f(afid), f(uname), f(aname), f(n_uname); }
  NETFS_P9_MSG(Tauth);
};
struct Rauth {
  Qid aqid;
  template <class F> void fields(F& f) { f(aqid); }
  NETFS_P9_MSG(Rauth);
};

struct Tattach {
  uint32_t fid = 0;
  uint32_t afid = kNoFid;
  std::string uname, aname;
  uint32_t n_uname = kNoUname;
  template <class F> void fields(F& f) { f(fid), f(afid), f(uname), f(aname), f(n_uname); }
  NETFS_P9_MSG(Tattach);
};
struct Rattach {
  Qid qid;
  template <class F> void fields(F& f) { f(qid); }
  NETFS_P9_MSG(Rattach);
};

struct Rlerror {
  uint32_t ecode = 0;
  template <class F> void fields(F& f) { f(ecode); }
  NETFS_P9_MSG(Rlerror);
};

struct Tflush {
  uint16_t oldtag = 0;
  template <class F> void fields(F& f) { f(oldtag); }
  NETFS_P9_MSG(Tflush);
};
struct Rflush {
  template <class F> void fields(F&) {}
  NETFS_P9_MSG(Rflush);
};

struct Twalk {
  uint32_t fid = 0, newfid = 0;
  Names names;
  template <class F> void fields(F& f) { f(fid), f(newfid), f(names); }
  NETFS_P9_MSG(Twalk);
};
struct Rwalk {
  Qids qids;
  template <class F> void fields(F& f) { f(qids); }
  NETFS_P9_MSG(Rwalk);
};

struct Tread {
  uint32_t fid = 0;
  uint64_t offset = 0;
  uint32_t count = 0;
  template <class F> void fields(F& f) { f(fid), f(offset), f(count); }
  NETFS_P9_MSG(Tread);
};
struct Rread {
  Data data;
  template <class F> void fields(F& f) { f(data); }
  NETFS_P9_MSG(Rread);
};

struct Twrite {
  uint32_t fid = 0;
  uint64_t offset = 0;
  Data data;
  template <class F> void fields(F& f) { f(fid), f(offset), f(data); }
  NETFS_P9_MSG(Twrite);
};
struct Rwrite {
  uint32_t count = 0;
  template <class F> void fields(F& f) { f(count); }
  NETFS_P9_MSG(Rwrite);
};

struct Tclunk {
  uint32_t fid = 0;
  template <class F> void fields(F& f) { f(fid); }
  NETFS_P9_MSG(Tclunk);
};
struct Rclunk {
  template <class F> void fields(F&) {}
  NETFS_P9_MSG(Rclunk);
};

struct Tremove {
  uint32_t fid = 0;
  template <class F> void fields(F& f) { f(fid); }
  NETFS_P9_MSG(Tremove);
};
struct Rremove {
  template <class F> void fields(F&) {}
  NETFS_P9_MSG(Rremove);
};

struct Tstatfs {
  uint32_t fid = 0;
  template <class F> void fields(F& f) { f(fid); }
  NETFS_P9_MSG(Tstatfs);
};
struct Rstatfs {
  StatFs st;
  template <class F> void fields(F& f) { f(st); }
  NETFS_P9_MSG(Rstatfs);
};

struct Tlopen {
  uint32_t fid = 0;
  uint32_t flags = 0;
  template <class F> void fields(F& f) { f(fid), f(flags); }
  NETFS_P9_MSG(Tlopen);
};
struct Rlopen {
  Qid qid;
  uint32_t iounit = 0;
  template <class F> void fields(F& f) { f(qid), f(iounit); }
  NETFS_P9_MSG(Rlopen);
};

struct Tlcreate {
  uint32_t fid = 0;
  std::string name;
  uint32_t flags = 0, mode = 0, gid = 0;
  template <class F> void fields(F& f) { f(fid), f(name), f(flags), f(mode), f(gid); }
  NETFS_P9_MSG(Tlcreate);
};
struct Rlcreate {
  Qid qid;
  uint32_t iounit = 0;
  template <class F> void fields(F& f) { f(qid), f(iounit); }
  NETFS_P9_MSG(Rlcreate);
};

struct Tsymlink {
  uint32_t fid = 0;
  std::string name, symtgt;
  uint32_t gid = 0;
  template <class F> void fields(F& f) { f(fid), f(name), f(symtgt), f(gid); }
  NETFS_P9_MSG(Tsymlink);
};
struct Rsymlink {
  Qid qid;
  template <class F> void fields(F& f) { f(qid); }
  NETFS_P9_MSG(Rsymlink);
};

struct Tmknod {
  uint32_t dfid = 0;
  std::string name;
  uint32_t mode = 0, major = 0, minor = 0, gid = 0;
  template <class F> void fields(F& f) { f(dfid), f(name), f(mode), f(major), f(minor), f(gid); }
  NETFS_P9_MSG(Tmknod);
};
struct Rmknod {
  Qid qid;
  template <class F> void fields(F& f) { f(qid); }
  NETFS_P9_MSG(Rmknod);
};

struct Trename {
  uint32_t fid = 0, dfid = 0;
  std::string name;
  template <class F> void fields(F& f) { f(fid), f(dfid), f(name); }
  NETFS_P9_MSG(Trename);
};
struct Rrename {
  template <class F> void fields(F&) {}
  NETFS_P9_MSG(Rrename);
};

struct Treadlink {
  uint32_t fid = 0;
  template <class F> void fields(F& f) { f(fid); }
  NETFS_P9_MSG(Treadlink);
};
struct Rreadlink {
  std::string target;
  template <class F> void fields(F& f) { f(target); }
  NETFS_P9_MSG(Rreadlink);
};

struct Tgetattr {
  uint32_t fid = 0;
  uint64_t request_mask = getattr_mask::kBasic;
  template <class F> void fields(F& f) { f(fid), f(request_mask); }
  NETFS_P9_MSG(Tgetattr);
};
struct Rgetattr {
  Attr attr;
  template <class F> void fields(F& f) { f(attr); }
  NETFS_P9_MSG(Rgetattr);
};

struct Tsetattr {
  uint32_t fid = 0;
  SetAttr attr;
  template <class F> void fields(F& f) { f(fid), f(attr); }
  NETFS_P9_MSG(Tsetattr);
};
struct Rsetattr {
  template <class F> void fields(F&) {}
  NETFS_P9_MSG(Rsetattr);
};

struct Txattrwalk {
  uint32_t fid = 0, newfid = 0;
  std::string name;  // empty: list the names
  template <class F> void fields(F& f) { f(fid), f(newfid), f(name); }
  NETFS_P9_MSG(Txattrwalk);
};
struct Rxattrwalk {
  uint64_t size = 0;
  template <class F> void fields(F& f) { f(size); }
  NETFS_P9_MSG(Rxattrwalk);
};

struct Txattrcreate {
  uint32_t fid = 0;
  std::string name;
  uint64_t attr_size = 0;
  uint32_t flags = 0;  // XATTR_CREATE / XATTR_REPLACE
  template <class F> void fields(F& f) { f(fid), f(name), f(attr_size), f(flags); }
  NETFS_P9_MSG(Txattrcreate);
};
struct Rxattrcreate {
  template <class F> void fields(F&) {}
  NETFS_P9_MSG(Rxattrcreate);
};

struct Treaddir {
  uint32_t fid = 0;
  uint64_t offset = 0;
  uint32_t count = 0;
  template <class F> void fields(F& f) { f(fid), f(offset), f(count); }
  NETFS_P9_MSG(Treaddir);
};
struct Rreaddir {
  Dirents entries;
  template <class F> void fields(F& f) { f(entries); }
  NETFS_P9_MSG(Rreaddir);
};

struct Tfsync {
  uint32_t fid = 0;
  uint32_t datasync = 0;
  template <class F> void fields(F& f) { f(fid), f(datasync); }
  NETFS_P9_MSG(Tfsync);
};
struct Rfsync {
  template <class F> void fields(F&) {}
  NETFS_P9_MSG(Rfsync);
};

struct Tlock {
  uint32_t fid = 0;
  uint8_t type = 0;
  uint32_t flags = 0;
  uint64_t start = 0, length = 0;
  uint32_t proc_id = 0;
  std::string client_id;
  template <class F> void fields(F& f) { f(fid), f(type), f(flags), f(start), f(length), f(proc_id), f(client_id); }
  NETFS_P9_MSG(Tlock);
};
struct Rlock {
  uint8_t status = 0;
  template <class F> void fields(F& f) { f(status); }
  NETFS_P9_MSG(Rlock);
};

struct Tgetlock {
  uint32_t fid = 0;
  uint8_t type = 0;
  uint64_t start = 0, length = 0;
  uint32_t proc_id = 0;
  std::string client_id;
  template <class F> void fields(F& f) { f(fid), f(type), f(start), f(length), f(proc_id), f(client_id); }
  NETFS_P9_MSG(Tgetlock);
};
struct Rgetlock {
  uint8_t type = 0;
  uint64_t start = 0, length = 0;
  uint32_t proc_id = 0;
  std::string client_id;
  template <class F> void fields(F& f) { f(type), f(start), f(length), f(proc_id), f(client_id); }
  NETFS_P9_MSG(Rgetlock);
};

struct Tlink {
  uint32_t dfid = 0, fid = 0;
  std::string name;
  template <class F> void fields(F& f) { f(dfid), f(fid), f(name); }
  NETFS_P9_MSG(Tlink);
};
struct Rlink {
  template <class F> void fields(F&) {}
  NETFS_P9_MSG(Rlink);
};

struct Tmkdir {
  uint32_t dfid = 0;
  std::string name;
  uint32_t mode = 0, gid = 0;
  template <class F> void fields(F& f) { f(dfid), f(name), f(mode), f(gid); }
  NETFS_P9_MSG(Tmkdir);
};
struct Rmkdir {
  Qid qid;
  template <class F> void fields(F& f) { f(qid); }
  NETFS_P9_MSG(Rmkdir);
};

struct Trenameat {
  uint32_t olddirfid = 0;
  std::string oldname;
  uint32_t newdirfid = 0;
  std::string newname;
  template <class F> void fields(F& f) { f(olddirfid), f(oldname), f(newdirfid), f(newname); }
  NETFS_P9_MSG(Trenameat);
};
struct Rrenameat {
  template <class F> void fields(F&) {}
  NETFS_P9_MSG(Rrenameat);
};

struct Tunlinkat {
  uint32_t dirfid = 0;
  std::string name;
  uint32_t flags = 0;  // kAtRemoveDir for rmdir
  template <class F> void fields(F& f) { f(dirfid), f(name), f(flags); }
  NETFS_P9_MSG(Tunlinkat);
};
struct Runlinkat {
  template <class F> void fields(F&) {}
  NETFS_P9_MSG(Runlinkat);
};

#undef NETFS_P9_MSG

// Every message type above, for code that must visit them all (the fuzz target, tests).
#define NETFS_P9_EACH_MESSAGE(X)                                                               \
  X(Tversion) X(Rversion) X(Tauth) X(Rauth) X(Tattach) X(Rattach) X(Rlerror) X(Tflush)          \
  X(Rflush) X(Twalk) X(Rwalk) X(Tread) X(Rread) X(Twrite) X(Rwrite) X(Tclunk) X(Rclunk)         \
  X(Tremove) X(Rremove) X(Tstatfs) X(Rstatfs) X(Tlopen) X(Rlopen) X(Tlcreate) X(Rlcreate)       \
  X(Tsymlink) X(Rsymlink) X(Tmknod) X(Rmknod) X(Trename) X(Rrename) X(Treadlink) X(Rreadlink)   \
  X(Tgetattr) X(Rgetattr) X(Tsetattr) X(Rsetattr) X(Txattrwalk) X(Rxattrwalk) X(Txattrcreate)   \
  X(Rxattrcreate) X(Treaddir) X(Rreaddir) X(Tfsync) X(Rfsync) X(Tlock) X(Rlock) X(Tgetlock)     \
  X(Rgetlock) X(Tlink) X(Rlink) X(Tmkdir) X(Rmkdir) X(Trenameat) X(Rrenameat) X(Tunlinkat)      \
  X(Runlinkat)

}  // namespace netfs::p9::msg
