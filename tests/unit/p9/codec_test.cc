// The codec: every message survives encode -> decode unchanged, and no byte string a
// server might send makes the decoder read out of bounds or accept a malformed message.
#include "p9/codec.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace netfs::p9 {
namespace {

// A sample of every message with every field non-default, so a field the encoder or
// decoder forgot shows up as a mismatch.
struct Samples {
  Bytes payload{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{0}, std::byte{255}};
  Qid q{qid_type::kDir, 7, 0x1122334455667788ull};
  Attr attr() const {
    Attr a;
    a.valid = getattr_mask::kAll;
    a.qid = q;
    a.mode = 0100644;
    a.uid = 1;
    a.gid = 2;
    a.nlink = 3;
    a.rdev = 4;
    a.size = 5;
    a.blksize = 6;
    a.blocks = 7;
    a.atime_sec = 8, a.atime_nsec = 9, a.mtime_sec = 10, a.mtime_nsec = 11;
    a.ctime_sec = 12, a.ctime_nsec = 13, a.btime_sec = 14, a.btime_nsec = 15;
    a.gen = 16, a.data_version = 17;
    return a;
  }
  msg::Tversion tversion{1u << 20, "9P2000.L"};
  msg::Rversion rversion{65536, "9P2000.L"};
  msg::Tauth tauth{9, "root", "/srv", 0};
  msg::Rauth rauth{q};
  msg::Tattach tattach{1, kNoFid, "root", "/srv/export", 1000};
  msg::Rattach rattach{q};
  msg::Rlerror rlerror{ENOENT};
  msg::Tflush tflush{42};
  msg::Rflush rflush{};
  msg::Twalk twalk{1, 2, {{"a", "bb", "ccc"}}};
  msg::Rwalk rwalk{{{q, Qid{0, 1, 2}}}};
  msg::Tread tread{3, 1ull << 40, 65000};
  msg::Rread rread{{payload}};
  msg::Twrite twrite{3, 12345, {payload}};
  msg::Rwrite rwrite{5};
  msg::Tclunk tclunk{3};
  msg::Rclunk rclunk{};
  msg::Tremove tremove{4};
  msg::Rremove rremove{};
  msg::Tstatfs tstatfs{1};
  msg::Rstatfs rstatfs{StatFs{0x01021997, 4096, 100, 50, 40, 1000, 900, 77, 255}};
  msg::Tlopen tlopen{3, 02};
  msg::Rlopen rlopen{q, 8192};
  msg::Tlcreate tlcreate{3, "file", 0102, 0644, 100};
  msg::Rlcreate rlcreate{q, 0};
  msg::Tsymlink tsymlink{3, "link", "../target", 100};
  msg::Rsymlink rsymlink{q};
  msg::Tmknod tmknod{3, "fifo", 010644, 1, 2, 100};
  msg::Rmknod rmknod{q};
  msg::Trename trename{3, 4, "new"};
  msg::Rrename rrename{};
  msg::Treadlink treadlink{5};
  msg::Rreadlink rreadlink{"/some/where"};
  msg::Tgetattr tgetattr{5, getattr_mask::kAll};
  msg::Rgetattr rgetattr{attr()};
  msg::Tsetattr tsetattr{5, SetAttr{setattr_mask::kSize | setattr_mask::kMode, 0600, 1, 2, 4096, 3, 4, 5, 6}};
  msg::Rsetattr rsetattr{};
  msg::Txattrwalk txattrwalk{5, 6, "user.x"};
  msg::Rxattrwalk rxattrwalk{123};
  msg::Txattrcreate txattrcreate{6, "user.y", 10, 1};
  msg::Rxattrcreate rxattrcreate{};
  msg::Treaddir treaddir{7, 99, 8192};
  msg::Rreaddir rreaddir{{{Dirent{q, 1, 4, "."}, Dirent{Qid{0, 0, 9}, 2, 8, "file"}}}};
  msg::Tfsync tfsync{7, 1};
  msg::Rfsync rfsync{};
  msg::Tlock tlock{7, lock_type::kWrlck, lock_flags::kBlock, 10, 20, 1234, "host"};
  msg::Rlock rlock{lock_status::kBlocked};
  msg::Tgetlock tgetlock{7, lock_type::kRdlck, 0, 0, 99, "host"};
  msg::Rgetlock rgetlock{lock_type::kWrlck, 5, 6, 77, "other"};
  msg::Tlink tlink{1, 2, "hard"};
  msg::Rlink rlink{};
  msg::Tmkdir tmkdir{1, "dir", 0755, 100};
  msg::Rmkdir rmkdir{q};
  msg::Trenameat trenameat{1, "old", 2, "new"};
  msg::Rrenameat rrenameat{};
  msg::Tunlinkat tunlinkat{1, "gone", kAtRemoveDir};
  msg::Runlinkat runlinkat{};
};

template <class M>
void round_trip(const M& m) {
  SCOPED_TRACE(M::kName);
  auto bytes = encode(m);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message();
  auto f = parse_frame(*bytes, 1u << 20);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->type, static_cast<uint8_t>(M::kType));
  EXPECT_EQ(f->tag, kNoTag);
  auto back = decode<M>(f->body);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(*back == m) << format(m) << " vs " << format(*back);
  EXPECT_TRUE(decode_any(*bytes, 1u << 20).ok());

  // Every truncation of the body fails cleanly (ASan catches an overread): even a cut on a
  // record boundary fails, because the count fields no longer agree with the bytes.
  for (size_t n = 0; n < f->body.size(); n++) {
    Bytes cut(f->body.begin(), f->body.begin() + n);
    auto r = decode<M>(cut);
    EXPECT_FALSE(r.ok()) << "accepted a body cut to " << n << " bytes";
    if (!r.ok()) {
      EXPECT_EQ(r.errnum(), EPROTO);
    }
  }
  // A trailing byte is also refused.
  Bytes longer(f->body.begin(), f->body.end());
  longer.push_back(std::byte{0});
  EXPECT_EQ(decode<M>(longer).errnum(), EPROTO);
}

TEST(P9Codec, EveryMessageRoundTrips) {
  Samples s;
#define RT(Name) round_trip(s.Name);
  RT(tversion) RT(rversion) RT(tauth) RT(rauth) RT(tattach) RT(rattach) RT(rlerror) RT(tflush) RT(rflush)
  RT(twalk) RT(rwalk) RT(tread) RT(rread) RT(twrite) RT(rwrite) RT(tclunk) RT(rclunk) RT(tremove) RT(rremove)
  RT(tstatfs) RT(rstatfs) RT(tlopen) RT(rlopen) RT(tlcreate) RT(rlcreate) RT(tsymlink) RT(rsymlink) RT(tmknod)
  RT(rmknod) RT(trename) RT(rrename) RT(treadlink) RT(rreadlink) RT(tgetattr) RT(rgetattr) RT(tsetattr)
  RT(rsetattr) RT(txattrwalk) RT(rxattrwalk) RT(txattrcreate) RT(rxattrcreate) RT(treaddir) RT(rreaddir)
  RT(tfsync) RT(rfsync) RT(tlock) RT(rlock) RT(tgetlock) RT(rgetlock) RT(tlink) RT(rlink) RT(tmkdir) RT(rmkdir)
  RT(trenameat) RT(rrenameat) RT(tunlinkat) RT(runlinkat)
#undef RT
}

TEST(P9Codec, WireLayoutMatchesTheSpec) {
  // Twrite: size[4] type[1] tag[2] fid[4] offset[8] count[4] data — 23 bytes of header.
  Bytes data(10, std::byte{0xAB});
  auto m = encode(msg::Twrite{0x01020304, 0x1122334455667788ull, {data}});
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), kTwriteHeaderSize + 10);
  EXPECT_EQ(std::to_integer<int>((*m)[0]), 33);
  EXPECT_EQ(std::to_integer<int>((*m)[4]), 118);
  EXPECT_EQ(std::to_integer<int>((*m)[7]), 0x04);
  EXPECT_EQ(std::to_integer<int>((*m)[11]), 0x88);
  EXPECT_EQ(std::to_integer<int>((*m)[19]), 10);

  auto direct = encode_twrite(0x01020304, 0x1122334455667788ull, 10,
                              [&](std::byte* p) { std::copy(data.begin(), data.end(), p); });
  EXPECT_EQ(direct, *m);

  Bytes msgb = *m;
  set_message_tag(msgb, 0xBEEF);
  EXPECT_EQ(message_tag(msgb), 0xBEEF);
}

TEST(P9Codec, FrameChecks) {
  auto m = encode(msg::Tclunk{1});
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(parse_frame(*m, 8192).ok());
  EXPECT_EQ(parse_frame(*m, 8).errnum(), EPROTO);  // larger than msize
  Bytes shorter(m->begin(), m->end() - 1);
  EXPECT_EQ(parse_frame(shorter, 8192).errnum(), EPROTO);  // size field says more
  Bytes tiny(m->begin(), m->begin() + 5);
  EXPECT_EQ(parse_frame(tiny, 8192).errnum(), EPROTO);
  EXPECT_EQ(parse_frame({}, 8192).errnum(), EPROTO);
  Bytes unknown = *m;
  unknown[4] = std::byte{250};
  EXPECT_EQ(decode_any(unknown, 8192).errnum(), ENOTSUP);
}

Bytes le(std::initializer_list<std::pair<uint64_t, int>> fields) {
  Bytes b;
  for (auto [v, n] : fields)
    for (int i = 0; i < n; i++) b.push_back(std::byte(v >> (8 * i)));
  return b;
}

TEST(P9Codec, HostileCountsAreRefused) {
  // Rread claiming more data than the message holds.
  EXPECT_EQ(decode<msg::Rread>(le({{100, 4}, {0, 8}})).errnum(), EPROTO);
  // Rread claiming 4 GiB.
  EXPECT_EQ(decode<msg::Rread>(le({{0xFFFFFFFF, 4}})).errnum(), EPROTO);
  // Rwalk with 17 qids (more than a walk may ask for), even if the bytes are there.
  Bytes rw = le({{17, 2}});
  rw.resize(2 + 17 * kQidSize);
  EXPECT_EQ(decode<msg::Rwalk>(rw).errnum(), EPROTO);
  // Rwalk with a huge count and no bytes: no allocation of 65535 qids happens first.
  EXPECT_EQ(decode<msg::Rwalk>(le({{0xFFFF, 2}})).errnum(), EPROTO);
  // A string whose length runs past the message.
  EXPECT_EQ(decode<msg::Rreadlink>(le({{50, 2}, {0x41414141, 4}})).errnum(), EPROTO);
  // A string holding a NUL.
  EXPECT_EQ(decode<msg::Rreadlink>(le({{3, 2}, {0x410041, 3}})).errnum(), EPROTO);
  // Rreaddir whose count exceeds the body, and one whose last record is cut short.
  EXPECT_EQ(decode<msg::Rreaddir>(le({{30, 4}})).errnum(), EPROTO);
  Bytes rd = le({{24, 4}});  // one record needs 13 + 8 + 1 + 2 = 24 bytes plus the name
  rd.resize(4 + 24);
  rd[4 + 22] = std::byte{5};  // name length 5, but no name bytes inside count
  EXPECT_EQ(decode<msg::Rreaddir>(rd).errnum(), EPROTO);
  // Rversion with a missing version string.
  EXPECT_EQ(decode<msg::Rversion>(le({{8192, 4}})).errnum(), EPROTO);
}

TEST(P9Codec, UnencodableFieldsAreRefused) {
  EXPECT_EQ(encode(msg::Tlcreate{1, std::string(70000, 'x'), 0, 0, 0}).errnum(), EINVAL);
  EXPECT_EQ(encode(msg::Tlcreate{1, std::string("a\0b", 3), 0, 0, 0}).errnum(), EINVAL);
  msg::Twalk w{1, 2, {}};
  w.names.v.assign(17, "x");
  EXPECT_EQ(encode(w).errnum(), EINVAL);
}

TEST(P9Codec, FormatNamesFields) {
  EXPECT_EQ(format(msg::Twalk{1, 2, {{"a", "b"}}}), "Twalk 1 2 [a b]");
  EXPECT_EQ(format(msg::Tversion{8192, "9P2000.L"}), "Tversion 8192 \"9P2000.L\"");
  EXPECT_STREQ(msg_name(static_cast<uint8_t>(MsgType::kRlerror)), "Rlerror");
  EXPECT_STREQ(msg_name(3), "unknown");
}

}  // namespace
}  // namespace netfs::p9
