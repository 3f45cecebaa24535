#include "cache/content_map.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "cache/checksum.h"
#include "cache/file_io.h"

namespace netfs::cache {

namespace {

constexpr char kMagic[8] = {'N', 'F', 'S', 'C', 'M', 'A', 'P', '1'};

struct Header {
  char magic[8];
  uint32_t granule;
  uint32_t pad;
  Coherency coherency;
  uint64_t check;  // checksum of everything above
};

struct Record {
  uint64_t hash;
  uint32_t len;
  uint32_t pad;
  uint64_t reserved;
  uint64_t check;  // checksum of the 24 bytes above, seeded with index + 1
};
static_assert(sizeof(Record) == ContentMap::kRecordSize);

uint64_t record_check(const Record& r, uint64_t index) { return checksum(&r, offsetof(Record, check), index + 1); }

}  // namespace

ContentMap::~ContentMap() { ::close(fd_); }

Result<std::unique_ptr<ContentMap>> ContentMap::open(const std::string& path, uint32_t granule) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errno, "open cache map");
  std::unique_ptr<ContentMap> m(new ContentMap(fd, granule));
  Header h{};
  ssize_t r = ::pread(fd, &h, sizeof h, 0);
  if (r == static_cast<ssize_t>(sizeof h) && std::memcmp(h.magic, kMagic, sizeof kMagic) == 0 &&
      h.granule == granule && h.check == checksum(&h, offsetof(Header, check))) {
    m->header_valid_ = true;
    m->coherency_ = h.coherency;
  }
  return m;
}

Result<std::vector<GranuleRecord>> ContentMap::load() const {
  std::vector<GranuleRecord> out;
  if (!header_valid_) return out;
  std::vector<Record> buf(4096);
  uint64_t index = 0;
  for (;;) {
    ssize_t r = ::pread(fd_, buf.data(), buf.size() * sizeof(Record),
                        static_cast<off_t>(kHeaderSize + index * kRecordSize));
    if (r < 0) {
      if (errno == EINTR) continue;
      return make_error(errno, "read cache map");
    }
    size_t n = static_cast<size_t>(r) / sizeof(Record);
    for (size_t i = 0; i < n; i++, index++) {
      const Record& rec = buf[i];
      if (rec.len && rec.check == record_check(rec, index)) out.push_back({index, rec.len, rec.hash});
    }
    if (n < buf.size()) break;
  }
  return out;
}

Status ContentMap::write_header(const Coherency& c) {
  alignas(8) char block[kHeaderSize] = {};
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.granule = granule_;
  h.coherency = c;
  h.check = checksum(&h, offsetof(Header, check));
  std::memcpy(block, &h, sizeof h);
  NETFS_TRY(pwrite_all(fd_, block, sizeof block, 0, "cache map write"));
  header_valid_ = true;
  coherency_ = c;
  return ok_status();
}

Status ContentMap::reset(const Coherency& c) {
  // Records first: a crash between the two leaves an empty map under the old header,
  // which is only less cached data.
  if (::ftruncate(fd_, static_cast<off_t>(kHeaderSize)) < 0) return make_error(errno, "truncate cache map");
  return write_header(c);
}

Status ContentMap::set_coherency(const Coherency& c) {
  if (header_valid_ && c == coherency_) return ok_status();
  return write_header(c);
}

Status ContentMap::put(const GranuleRecord& g) {
  Record r{};
  r.hash = g.hash;
  r.len = g.len;
  r.check = record_check(r, g.index);
  return pwrite_all(fd_, &r, sizeof r, kHeaderSize + g.index * kRecordSize, "cache map write");
}

Status ContentMap::clear(uint64_t index) {
  Record r{};
  return pwrite_all(fd_, &r, sizeof r, kHeaderSize + index * kRecordSize, "cache map write");
}

Status ContentMap::sync() {
  if (::fdatasync(fd_) < 0) return make_error(errno, "sync cache map");
  return ok_status();
}

}  // namespace netfs::cache
