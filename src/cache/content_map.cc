#include "cache/content_map.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "cache/checksum.h"
#include "cache/file_io.h"

namespace netfs::cache {

namespace {

constexpr char kMagic[8] = {'N', 'F', 'S', 'C', 'M', 'A', 'P', '1'};
constexpr char kSealedMagic[8] = {'N', 'F', 'S', 'C', 'M', 'A', 'P', 'X'};

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

// Encrypted: everything after `seal` is ciphertext.
struct SealedHeader {
  char magic[8];
  uint32_t granule;
  uint32_t pad;
  Seal seal;
  uint64_t epoch;
  Coherency coherency;
};
constexpr size_t kSealedHeaderText = sizeof(SealedHeader) - offsetof(SealedHeader, epoch);

struct SealedRecord {
  Seal seal;
  uint32_t len;  // ciphertext from here on
  uint32_t pad;
  Seal data;
  uint64_t reserved;
};
static_assert(sizeof(SealedRecord) == ContentMap::kSealedRecordSize);
constexpr size_t kSealedRecordText = sizeof(SealedRecord) - offsetof(SealedRecord, len);

uint64_t record_check(const Record& r, uint64_t index) { return checksum(&r, offsetof(Record, check), index + 1); }

Aad header_aad(const std::string& object, uint32_t granule) {
  return std::move(Aad("netfs cache map header v1").str(object).u64(granule));
}
Aad record_aad(const std::string& object, uint64_t index, uint64_t epoch) {
  return std::move(Aad("netfs cache map record v1").str(object).u64(index).u64(epoch));
}

bool all_zero(const void* p, size_t n) {
  auto* b = static_cast<const uint8_t*>(p);
  return std::all_of(b, b + n, [](uint8_t x) { return x == 0; });
}

}  // namespace

ContentMap::~ContentMap() { ::close(fd_); }

Result<std::unique_ptr<ContentMap>> ContentMap::open(const std::string& path, uint32_t granule, const Cipher* cipher,
                                                     std::string object) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errno, "open cache map");
  std::unique_ptr<ContentMap> m(new ContentMap(fd, granule, cipher, path, std::move(object)));
  if (cipher) {
    SealedHeader h{};
    ssize_t r = ::pread(fd, &h, sizeof h, 0);
    if (r == static_cast<ssize_t>(sizeof h) && std::memcmp(h.magic, kSealedMagic, sizeof kSealedMagic) == 0 &&
        h.granule == granule) {
      if (cipher->open(&h.epoch, kSealedHeaderText, header_aad(m->object_, granule).span(), h.seal)) {
        m->header_valid_ = true;
        m->coherency_ = h.coherency;
        m->epoch_ = h.epoch;
      } else {
        m->header_forged_ = true;
      }
    } else if (r > 0 && !all_zero(&h, static_cast<size_t>(r))) {
      // Not ours under this key (or cut short): as forged, it is emptied and counted.
      m->header_forged_ = true;
    }
    return m;
  }
  Header h{};
  ssize_t r = ::pread(fd, &h, sizeof h, 0);
  if (r == static_cast<ssize_t>(sizeof h) && std::memcmp(h.magic, kMagic, sizeof kMagic) == 0 &&
      h.granule == granule && h.check == checksum(&h, offsetof(Header, check))) {
    m->header_valid_ = true;
    m->coherency_ = h.coherency;
  }
  return m;
}

Result<std::vector<GranuleRecord>> ContentMap::load(uint64_t* forged) {
  std::vector<GranuleRecord> out;
  if (!header_valid_) return out;
  const size_t rs = record_size();
  std::vector<uint8_t> buf(4096 * rs);
  uint64_t index = 0;
  for (;;) {
    ssize_t r = ::pread(fd_, buf.data(), buf.size(), static_cast<off_t>(record_offset(index)));
    if (r < 0) {
      if (errno == EINTR) continue;
      return make_error(errno, "read cache map");
    }
    size_t n = static_cast<size_t>(r) / rs;
    for (size_t i = 0; i < n; i++, index++) {
      uint8_t* p = buf.data() + i * rs;
      if (!cipher_) {
        Record rec;
        std::memcpy(&rec, p, sizeof rec);
        if (rec.len && rec.check == record_check(rec, index)) out.push_back({index, rec.len, rec.hash, {}});
        continue;
      }
      SealedRecord rec;
      std::memcpy(&rec, p, sizeof rec);
      if (all_zero(&rec, sizeof rec)) continue;
      if (cipher_->open(&rec.len, kSealedRecordText, record_aad(object_, index, epoch_).span(), rec.seal) &&
          rec.len && rec.len <= granule_) {
        out.push_back({index, rec.len, 0, rec.data});
        continue;
      }
      // Dropped only by the object's owner: a reader such as the janitor's scan may see
      // a record its cookie is writing at the same moment.
      if (forged) {
        (*forged)++;
        (void)clear(index);
      }
    }
    if (n < buf.size() / rs) break;
  }
  return out;
}

Status ContentMap::write_header(int fd, const Coherency& c, uint64_t epoch) {
  alignas(8) char block[kHeaderSize] = {};
  if (cipher_) {
    SealedHeader h{};
    std::memcpy(h.magic, kSealedMagic, sizeof kSealedMagic);
    h.granule = granule_;
    h.epoch = epoch;
    h.coherency = c;
    if (!cipher_->seal(&h.epoch, kSealedHeaderText, header_aad(object_, granule_).span(), &h.seal))
      return make_error(EIO, "seal cache map header");
    std::memcpy(block, &h, sizeof h);
  } else {
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.granule = granule_;
    h.coherency = c;
    h.check = checksum(&h, offsetof(Header, check));
    std::memcpy(block, &h, sizeof h);
  }
  NETFS_TRY(pwrite_all(fd, block, sizeof block, 0, "cache map write"));
  return ok_status();
}

Status ContentMap::reset(const Coherency& c) {
  // Records first: a crash between the two leaves an empty map under the old header,
  // which is only less cached data.
  if (::ftruncate(fd_, static_cast<off_t>(kHeaderSize)) < 0) return make_error(errno, "truncate cache map");
  uint64_t epoch = 0;
  if (cipher_ && RAND_bytes(reinterpret_cast<uint8_t*>(&epoch), sizeof epoch) != 1)
    return make_error(EIO, "no random bytes for a cache map epoch");
  NETFS_TRY(write_header(fd_, c, epoch));
  // Records sealed under the new epoch must not become durable before the header that
  // names it: a crash then would make them read as forgeries.
  if (cipher_ && ::fdatasync(fd_) < 0) return make_error(errno, "sync cache map header");
  header_valid_ = true;
  header_forged_ = false;
  coherency_ = c;
  epoch_ = epoch;
  cleared_in_epoch_ = false;
  return ok_status();
}

Status ContentMap::set_coherency(const Coherency& c, const std::vector<GranuleRecord>& present) {
  if (header_valid_ && c == coherency_) return ok_status();
  if (cipher_ && cleared_in_epoch_) return rewrite(c, present);
  NETFS_TRY(write_header(fd_, c, epoch_));
  header_valid_ = true;
  coherency_ = c;
  return ok_status();
}

// A new epoch makes every record sealed under the old one (a granule's older version
// among them) fail to authenticate. The new map is complete and durable before it
// replaces the old one, so a crash leaves one or the other.
Status ContentMap::rewrite(const Coherency& c, const std::vector<GranuleRecord>& present) {
  uint64_t epoch = 0;
  if (RAND_bytes(reinterpret_cast<uint8_t*>(&epoch), sizeof epoch) != 1)
    return make_error(EIO, "no random bytes for a cache map epoch");
  std::string tmp = path_ + ".new";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errno, "create cache map");
  Status st = write_header(fd, c, epoch);
  uint64_t end = present.empty() ? 0 : present.back().index + 1;
  std::vector<uint8_t> recs(end * kSealedRecordSize);
  for (const GranuleRecord& g : present) {
    if (!st.ok()) break;
    if (!encode_record(g, epoch, recs.data() + g.index * kSealedRecordSize))
      st = make_error(EIO, "seal cache map record");
  }
  if (st.ok() && !recs.empty()) st = pwrite_all(fd, recs.data(), recs.size(), kHeaderSize, "cache map write");
  if (st.ok() && ::fdatasync(fd) < 0) st = make_error(errno, "sync cache map");
  if (st.ok() && ::rename(tmp.c_str(), path_.c_str()) < 0) st = make_error(errno, "rename cache map");
  if (!st.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  ::close(fd_);
  fd_ = fd;
  header_valid_ = true;
  coherency_ = c;
  epoch_ = epoch;
  cleared_in_epoch_ = false;
  return ok_status();
}

bool ContentMap::encode_record(const GranuleRecord& g, uint64_t epoch, void* out) const {
  SealedRecord r{};
  r.len = g.len;
  r.data = g.seal;
  if (!cipher_->seal(&r.len, kSealedRecordText, record_aad(object_, g.index, epoch).span(), &r.seal)) return false;
  std::memcpy(out, &r, sizeof r);
  return true;
}

Status ContentMap::put(const GranuleRecord& g) {
  if (cipher_) {
    alignas(8) uint8_t r[kSealedRecordSize];
    if (!encode_record(g, epoch_, r)) return make_error(EIO, "seal cache map record");
    return pwrite_all(fd_, r, sizeof r, record_offset(g.index), "cache map write");
  }
  Record r{};
  r.hash = g.hash;
  r.len = g.len;
  r.check = record_check(r, g.index);
  return pwrite_all(fd_, &r, sizeof r, record_offset(g.index), "cache map write");
}

Status ContentMap::clear(uint64_t index) {
  cleared_in_epoch_ = true;
  alignas(8) uint8_t r[kSealedRecordSize] = {};
  return pwrite_all(fd_, r, record_size(), record_offset(index), "cache map write");
}

Status ContentMap::sync() {
  if (::fdatasync(fd_) < 0) return make_error(errno, "sync cache map");
  return ok_status();
}

}  // namespace netfs::cache
