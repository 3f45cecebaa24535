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
// Threading: not thread-safe; its StoreCookie serialises calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/coherency.h"
#include "netfs/result.h"

namespace netfs::cache {

struct GranuleRecord {
  uint64_t index = 0;
  uint32_t len = 0;
  uint64_t hash = 0;
};

class ContentMap {
 public:
  static constexpr uint64_t kHeaderSize = 4096;
  static constexpr uint64_t kRecordSize = 32;

  ~ContentMap();
  ContentMap(const ContentMap&) = delete;
  ContentMap& operator=(const ContentMap&) = delete;

  // Opens (creating if absent) the map at path. header_valid() says whether a complete
  // header with this granule size was found.
  static Result<std::unique_ptr<ContentMap>> open(const std::string& path, uint32_t granule);

  bool header_valid() const { return header_valid_; }
  const Coherency& coherency() const { return coherency_; }
  // The valid records, in index order.
  Result<std::vector<GranuleRecord>> load() const;

  // Drops every record and writes a new header (the object is emptied).
  Status reset(const Coherency& c);
  Status set_coherency(const Coherency& c);
  Status put(const GranuleRecord& r);
  Status clear(uint64_t index);
  Status sync();

 private:
  ContentMap(int fd, uint32_t granule) : fd_(fd), granule_(granule) {}
  Status write_header(const Coherency& c);

  int fd_;
  uint32_t granule_;
  bool header_valid_ = false;
  Coherency coherency_;
};

}  // namespace netfs::cache
