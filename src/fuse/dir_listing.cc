#include "fuse/dir_listing.h"

#include <cstring>

#include "cache/checksum.h"

namespace netfs::fuse {

namespace {

constexpr char kMagic[8] = {'N', 'F', 'S', 'L', 'I', 'S', 'T', '1'};
// A listing larger than this is not believed (a corrupt header must not make us
// allocate gigabytes); 64 MiB is about a million entries.
constexpr uint64_t kMaxPayload = 64ull << 20;

template <typename T>
void put(std::vector<std::byte>& out, T v) {
  for (size_t i = 0; i < sizeof(T); i++) out.push_back(static_cast<std::byte>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
}

template <typename T>
T get(const std::byte* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); i++) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return static_cast<T>(v);
}

}  // namespace

std::vector<std::byte> encode_listing(const std::vector<p9::Dirent>& entries) {
  std::vector<std::byte> out(kListingHeader);
  for (const auto& d : entries) {
    put<uint8_t>(out, d.qid.type);
    put<uint32_t>(out, d.qid.version);
    put<uint64_t>(out, d.qid.path);
    put<uint64_t>(out, d.offset);
    put<uint8_t>(out, d.type);
    // 9P names are at most 255 bytes on every server we talk to; longer ones still fit.
    put<uint16_t>(out, static_cast<uint16_t>(d.name.size()));
    const auto* s = reinterpret_cast<const std::byte*>(d.name.data());
    out.insert(out.end(), s, s + d.name.size());
  }
  uint64_t len = out.size() - kListingHeader;
  std::vector<std::byte> hdr;
  hdr.insert(hdr.end(), reinterpret_cast<const std::byte*>(kMagic), reinterpret_cast<const std::byte*>(kMagic) + 8);
  put<uint64_t>(hdr, entries.size());
  put<uint64_t>(hdr, len);
  put<uint64_t>(hdr, cache::checksum(out.data() + kListingHeader, len));
  std::memcpy(out.data(), hdr.data(), kListingHeader);
  return out;
}

Result<ListingHeader> decode_listing_header(const std::byte* p, size_t n) {
  if (n < kListingHeader || std::memcmp(p, kMagic, 8) != 0) return make_error(EINVAL, "not a listing");
  ListingHeader h;
  h.entries = get<uint64_t>(p + 8);
  h.payload_len = get<uint64_t>(p + 16);
  h.payload_hash = get<uint64_t>(p + 24);
  // Each entry takes at least 24 bytes.
  if (h.payload_len > kMaxPayload || h.entries > h.payload_len / 24) return make_error(EINVAL, "bad listing header");
  return h;
}

Result<std::vector<p9::Dirent>> decode_listing_payload(const ListingHeader& h, const std::byte* p, size_t n) {
  if (n != h.payload_len || cache::checksum(p, n) != h.payload_hash)
    return make_error(EINVAL, "listing payload does not match its header");
  std::vector<p9::Dirent> out;
  out.reserve(h.entries);
  size_t at = 0;
  while (at < n) {
    if (n - at < 24) return make_error(EINVAL, "truncated listing record");
    p9::Dirent d;
    d.qid.type = get<uint8_t>(p + at);
    d.qid.version = get<uint32_t>(p + at + 1);
    d.qid.path = get<uint64_t>(p + at + 5);
    d.offset = get<uint64_t>(p + at + 13);
    d.type = get<uint8_t>(p + at + 21);
    size_t len = get<uint16_t>(p + at + 22);
    at += 24;
    if (n - at < len) return make_error(EINVAL, "truncated listing name");
    d.name.assign(reinterpret_cast<const char*>(p + at), len);
    at += len;
    out.push_back(std::move(d));
  }
  if (out.size() != h.entries) return make_error(EINVAL, "listing entry count mismatch");
  return out;
}

}  // namespace netfs::fuse
