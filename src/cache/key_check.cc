#include "cache/key_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "cache/file_io.h"

namespace netfs::cache {

namespace {

constexpr char kMagic[8] = {'N', 'F', 'S', 'C', 'K', 'E', 'Y', '1'};
constexpr char kText[16] = {'n', 'e', 't', 'f', 's', ' ', 'c', 'a', 'c', 'h', 'e', ' ', 'k', 'e', 'y', '\n'};

struct Record {
  char magic[8];
  Seal seal;
  char text[16];  // kText, sealed
};

Aad aad(uint32_t granule) {
  return std::move(Aad("netfs cache key check v1").bytes(kMagic, sizeof kMagic).u64(granule));
}

}  // namespace

KeyCheck read_key_check(const std::string& dir, const Cipher& c, uint32_t granule) {
  int fd = ::open((dir + kKeyCheckFile).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? KeyCheck::kAbsent : KeyCheck::kMismatch;
  Record r{};
  Status st = pread_all(fd, &r, sizeof r, 0, "read key check");
  ::close(fd);
  if (!st.ok() || std::memcmp(r.magic, kMagic, sizeof kMagic) != 0) return KeyCheck::kMismatch;
  if (!c.open(r.text, sizeof r.text, aad(granule).span(), r.seal)) return KeyCheck::kMismatch;
  return std::memcmp(r.text, kText, sizeof kText) == 0 ? KeyCheck::kMatch : KeyCheck::kMismatch;
}

Status write_key_check(const std::string& dir, const Cipher& c, uint32_t granule) {
  Record r{};
  std::memcpy(r.magic, kMagic, sizeof kMagic);
  std::memcpy(r.text, kText, sizeof kText);
  if (!c.seal(r.text, sizeof r.text, aad(granule).span(), &r.seal)) return make_error(EIO, "seal key check");
  std::string path = dir + kKeyCheckFile, tmp = path + ".new";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errno, "create key check");
  Status st = pwrite_all(fd, &r, sizeof r, 0, "write key check");
  if (st.ok() && ::fsync(fd) < 0) st = make_error(errno, "sync key check");
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) < 0) st = make_error(errno, "rename key check");
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

}  // namespace netfs::cache
