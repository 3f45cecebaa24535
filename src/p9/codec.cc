#include "p9/codec.h"

namespace netfs::p9 {

const char* msg_name(uint8_t type) {
  switch (static_cast<MsgType>(type)) {
#define NETFS_P9_NAME(Name) \
  case MsgType::k##Name:    \
    return #Name;
    NETFS_P9_EACH_MESSAGE(NETFS_P9_NAME)
#undef NETFS_P9_NAME
    case MsgType::kTlerror:
      return "Tlerror";
    case MsgType::kRerror:
      return "Rerror";
  }
  return "unknown";
}

Result<Frame> parse_frame(ByteSpan frame, uint32_t msize) {
  WireReader r(frame);
  Frame f;
  f.size = r.u32();
  f.type = r.u8();
  f.tag = r.u16();
  if (r.bad()) return make_error(EPROTO, "9P: message shorter than its header");
  if (f.size != frame.size()) return make_error(EPROTO, "9P: size field disagrees with message");
  if (f.size > msize) return make_error(EPROTO, "9P: message larger than msize");
  f.body = frame.subspan(kHeaderSize);
  return f;
}

Status decode_any(ByteSpan frame, uint32_t msize) {
  auto f = parse_frame(frame, msize);
  if (!f.ok()) return f.error();
  switch (static_cast<MsgType>(f->type)) {
#define NETFS_P9_DECODE(Name)                         \
  case MsgType::k##Name: {                            \
    auto m = decode<msg::Name>(f->body);              \
    if (!m.ok()) return m.error();                    \
    return ok_status();                               \
  }
    NETFS_P9_EACH_MESSAGE(NETFS_P9_DECODE)
#undef NETFS_P9_DECODE
    default:
      return make_error(ENOTSUP, "9P: unknown message type");
  }
}

Bytes encode_twrite_header(uint32_t fid, uint64_t offset, uint32_t count) {
  Bytes out;
  WireWriter w(out);
  w.begin(MsgType::kTwrite);
  w.put_u32(fid);
  w.put_u64(offset);
  w.put_u32(count);
  uint64_t n = uint64_t(kTwriteHeaderSize) + count;
  for (int i = 0; i < 4; i++) out[i] = std::byte(n >> (8 * i));
  return out;
}

namespace codec_detail {

// ---- Attr: Rgetattr's body after nothing else ----
template <class F, class A>
static void attr_fields(F& f, A& a) {
  f(a.valid), f(a.qid), f(a.mode), f(a.uid), f(a.gid), f(a.nlink), f(a.rdev), f(a.size), f(a.blksize),
      f(a.blocks), f(a.atime_sec), f(a.atime_nsec), f(a.mtime_sec), f(a.mtime_nsec), f(a.ctime_sec),
      f(a.ctime_nsec), f(a.btime_sec), f(a.btime_nsec), f(a.gen), f(a.data_version);
}
template <class F, class A>
static void setattr_fields(F& f, A& a) {
  f(a.valid), f(a.mode), f(a.uid), f(a.gid), f(a.size), f(a.atime_sec), f(a.atime_nsec), f(a.mtime_sec),
      f(a.mtime_nsec);
}
template <class F, class S>
static void statfs_fields(F& f, S& s) {
  f(s.type), f(s.bsize), f(s.blocks), f(s.bfree), f(s.bavail), f(s.files), f(s.ffree), f(s.fsid), f(s.namelen);
}

void Encoder::operator()(const Attr& a) { attr_fields(*this, a); }
void Decoder::operator()(Attr& a) { attr_fields(*this, a); }
void Encoder::operator()(const SetAttr& a) { setattr_fields(*this, a); }
void Decoder::operator()(SetAttr& a) { setattr_fields(*this, a); }
void Encoder::operator()(const StatFs& s) { statfs_fields(*this, s); }
void Decoder::operator()(StatFs& s) { statfs_fields(*this, s); }

// ---- walk names and qids: count[2], at most kMaxWalkElems ----
void Encoder::operator()(const msg::Names& n) {
  if (n.v.size() > kMaxWalkElems) {
    ok = false;
    return;
  }
  w.put_u16(static_cast<uint16_t>(n.v.size()));
  for (const auto& s : n.v) w.put_str(s);
}
void Decoder::operator()(msg::Names& n) {
  uint16_t count = r.u16();
  if (count > kMaxWalkElems) return r.poison();
  n.v.clear();
  for (uint16_t i = 0; i < count && !r.bad(); i++) n.v.push_back(r.str());
}

void Encoder::operator()(const msg::Qids& q) {
  if (q.v.size() > kMaxWalkElems) {
    ok = false;
    return;
  }
  w.put_u16(static_cast<uint16_t>(q.v.size()));
  for (const auto& x : q.v) w.put_qid(x);
}
void Decoder::operator()(msg::Qids& q) {
  uint16_t count = r.u16();
  if (count > kMaxWalkElems) return r.poison();
  q.v.clear();
  for (uint16_t i = 0; i < count && !r.bad(); i++) q.v.push_back(r.qid());
}

// ---- data: count[4] data[count] ----
void Encoder::operator()(const msg::Data& d) {
  if (d.v.size() > UINT32_MAX) {
    ok = false;
    return;
  }
  w.put_u32(static_cast<uint32_t>(d.v.size()));
  w.put_bytes(d.v.data(), d.v.size());
}
void Decoder::operator()(msg::Data& d) {
  uint32_t count = r.u32();
  d.v = r.bytes(count);  // poisons when the message holds fewer bytes than it claims
}

// ---- readdir records inside count[4] bytes ----
void Encoder::operator()(const msg::Dirents& d) {
  Bytes body;
  WireWriter bw(body);
  for (const auto& e : d.v) {
    bw.put_qid(e.qid);
    bw.put_u64(e.offset);
    bw.put_u8(e.type);
    bw.put_str(e.name);
  }
  // bw never had begin(): finish() would patch a header it does not have.
  if (body.size() > UINT32_MAX) {
    ok = false;
    return;
  }
  for (const auto& e : d.v)
    if (e.name.size() > 0xFFFF || e.name.find('\0') != std::string::npos) ok = false;
  w.put_u32(static_cast<uint32_t>(body.size()));
  w.put_bytes(body.data(), body.size());
}
void Decoder::operator()(msg::Dirents& d) {
  uint32_t count = r.u32();
  ByteSpan recs = r.bytes(count);
  if (r.bad()) return;
  WireReader rr(recs);
  d.v.clear();
  while (rr.remaining() > 0) {
    Dirent e;
    e.qid = rr.qid();
    e.offset = rr.u64();
    e.type = rr.u8();
    e.name = rr.str();
    if (rr.bad()) return r.poison();
    d.v.push_back(std::move(e));
  }
}

// ---- formatting ----
void Formatter::operator()(const Qid& q) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " qid(%02x.%x.%llx)", q.type, q.version, static_cast<unsigned long long>(q.path));
  out += buf;
}
void Formatter::operator()(const Attr& a) {
  (*this)(a.qid);
  char buf[96];
  std::snprintf(buf, sizeof buf, " mode=%o size=%llu valid=%llx", a.mode, static_cast<unsigned long long>(a.size),
                static_cast<unsigned long long>(a.valid));
  out += buf;
}
void Formatter::operator()(const SetAttr& a) {
  char buf[96];
  std::snprintf(buf, sizeof buf, " valid=%x mode=%o size=%llu", a.valid, a.mode,
                static_cast<unsigned long long>(a.size));
  out += buf;
}
void Formatter::operator()(const StatFs& s) {
  char buf[96];
  std::snprintf(buf, sizeof buf, " bsize=%u blocks=%llu bfree=%llu", s.bsize, static_cast<unsigned long long>(s.blocks),
                static_cast<unsigned long long>(s.bfree));
  out += buf;
}
void Formatter::operator()(const msg::Names& n) {
  out += " [";
  for (size_t i = 0; i < n.v.size(); i++) out += (i ? " " : "") + n.v[i];
  out += "]";
}
void Formatter::operator()(const msg::Qids& q) {
  out += " [";
  for (const auto& x : q.v) (*this)(x);
  out += " ]";
}

}  // namespace codec_detail

}  // namespace netfs::p9
