// The cached directory listing's blob (src/fuse/dir_listing.h): it round-trips, and a
// blob that is cut short, pieced together or not a listing at all is refused, so that a
// damaged cache object is a miss rather than a wrong listing.
#include "fuse/dir_listing.h"

#include <gtest/gtest.h>

namespace netfs::fuse {
namespace {

std::vector<p9::Dirent> sample(size_t n) {
  std::vector<p9::Dirent> v;
  for (size_t i = 0; i < n; i++) {
    p9::Dirent d;
    d.qid = p9::Qid{static_cast<uint8_t>(i % 3 ? 0 : 0x80), static_cast<uint32_t>(i * 7), 0x1000000000ull + i};
    d.offset = 0xfeedface00000000ull + i;
    d.type = i % 3 ? 8 : 4;
    d.name = "file-" + std::to_string(i) + std::string(i % 5, 'x');
    v.push_back(d);
  }
  return v;
}

Result<std::vector<p9::Dirent>> decode(const std::vector<std::byte>& b) {
  auto h = decode_listing_header(b.data(), b.size());
  if (!h.ok()) return h.error();
  return decode_listing_payload(*h, b.data() + kListingHeader, b.size() - kListingHeader);
}

TEST(DirListing, RoundTrips) {
  for (size_t n : {0, 1, 2, 500}) {
    auto v = sample(n);
    auto d = decode(encode_listing(v));
    ASSERT_TRUE(d.ok()) << n;
    EXPECT_EQ(*d, v);
  }
}

TEST(DirListing, ACutShortBlobIsRefused) {
  auto b = encode_listing(sample(50));
  for (size_t cut : {size_t{0}, size_t{10}, kListingHeader, b.size() / 2, b.size() - 1}) {
    std::vector<std::byte> c(b.begin(), b.begin() + static_cast<ptrdiff_t>(cut));
    EXPECT_FALSE(decode(c).ok()) << cut;
  }
}

TEST(DirListing, AChangedByteOrAnotherListingsTailIsRefused) {
  auto b = encode_listing(sample(50));
  auto flipped = b;
  flipped[b.size() - 3] ^= std::byte{1};
  EXPECT_FALSE(decode(flipped).ok());
  // The header of one listing over the payload of another of the same length.
  auto other = sample(50);
  other[3].name[0] = 'g';
  auto o = encode_listing(other);
  ASSERT_EQ(o.size(), b.size());
  std::copy(b.begin(), b.begin() + kListingHeader, o.begin());
  EXPECT_FALSE(decode(o).ok());
}

TEST(DirListing, NotAListingIsRefused) {
  std::vector<std::byte> zeros(4096);
  EXPECT_EQ(decode(zeros).errnum(), EINVAL);
}

}  // namespace
}  // namespace netfs::fuse
