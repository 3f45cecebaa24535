// ContentMap: the persistent record of which granules of one cached file are present,
// with each granule's length and checksum, and the file's coherency data. One small file
// next to the data file (`<key>.map`):
//
//   [0, 4096)        header: magic, granule size, Coherency, header checksum
//   4096 + 32 * i    record of granule i: data checksum, length, record checksum
//
// A record is written only after the granule's bytes are durable (the caller fdatasyncs
// the data file first), and each record carries its own checksum seeded with its index,
// so a record torn by a crash, or zeroes, read as "absent". A torn header reads as
// invalid and the whole object is emptied. Records are fixed-size and addressed by
// index, so updating one is a single 32-byte pwrite.
//
// Encrypted (a Cipher given, `-o cache_key`): the header's coherency data and a random
// epoch are sealed, with the object's name as associated data; a record (96 bytes) holds
// the granule's length and its own Seal (nonce and tag), sealed with the object's name,
// the granule's index and the epoch as associated data. All-zero records are absent;
// any other record that does not authenticate is counted as forged and dropped. The
// epoch changes whenever the coherency data does after a present granule was dropped
// (the map is then rewritten whole and renamed into place): a record of an older
// version of a granule, put back, fails to authenticate.
//
// Threading: not thread-safe; its StoreCookie serialises calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/cipher.h"
#include "cache/coherency.h"
#include "netfs/result.h"

namespace netfs::cache {

struct GranuleRecord {
  uint64_t index = 0;
  uint32_t len = 0;
  uint64_t hash = 0;  // plain: the granule's checksum
  Seal seal;          // encrypted: the granule's nonce and tag
};

class ContentMap {
 public:
  static constexpr uint64_t kHeaderSize = 4096;
  static constexpr uint64_t kRecordSize = 32;
  static constexpr uint64_t kSealedRecordSize = 96;

  ~ContentMap();
  ContentMap(const ContentMap&) = delete;
  ContentMap& operator=(const ContentMap&) = delete;

  // Opens (creating if absent) the map at path. header_valid() says whether a complete
  // header with this granule size was found. With a cipher, the map is sealed and
  // `object` (the object's name) is part of every block's associated data.
  static Result<std::unique_ptr<ContentMap>> open(const std::string& path, uint32_t granule,
                                                  const Cipher* cipher = nullptr, std::string object = {});

  bool header_valid() const { return header_valid_; }
  // Encrypted: a header was there and did not authenticate.
  bool header_forged() const { return header_forged_; }
  const Coherency& coherency() const { return coherency_; }
  // The valid records, in index order. Encrypted: records that do not authenticate are
  // left out; with `forged`, they are also counted there and cleared (by the owner only).
  Result<std::vector<GranuleRecord>> load(uint64_t* forged = nullptr);

  // Drops every record and writes a new header (the object is emptied).
  Status reset(const Coherency& c);
  // Records new coherency data. Encrypted, after a record was cleared: a new epoch, the
  // map rewritten with `present` (every present granule's record) and renamed into place.
  Status set_coherency(const Coherency& c, const std::vector<GranuleRecord>& present = {});
  Status put(const GranuleRecord& r);
  Status clear(uint64_t index);
  Status sync();

 private:
  ContentMap(int fd, uint32_t granule, const Cipher* cipher, std::string path, std::string object)
      : fd_(fd), granule_(granule), cipher_(cipher), path_(std::move(path)), object_(std::move(object)) {}
  uint64_t record_size() const { return cipher_ ? kSealedRecordSize : kRecordSize; }
  uint64_t record_offset(uint64_t index) const { return kHeaderSize + index * record_size(); }
  Status write_header(int fd, const Coherency& c, uint64_t epoch);
  bool encode_record(const GranuleRecord& g, uint64_t epoch, void* out) const;
  Status rewrite(const Coherency& c, const std::vector<GranuleRecord>& present);

  int fd_;
  const uint32_t granule_;
  const Cipher* const cipher_;
  const std::string path_;
  const std::string object_;
  bool header_valid_ = false;
  bool header_forged_ = false;
  Coherency coherency_;
  uint64_t epoch_ = 0;            // encrypted: part of every record's associated data
  bool cleared_in_epoch_ = false;  // a record was cleared since the epoch began
};

}  // namespace netfs::cache
