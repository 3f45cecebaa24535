#include "cache/cache_key.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "cache/file_io.h"

namespace netfs::cache {

CacheKey::CacheKey(const CacheKey& o) { std::memcpy(bytes, o.bytes, sizeof bytes); }
CacheKey& CacheKey::operator=(const CacheKey& o) {
  std::memcpy(bytes, o.bytes, sizeof bytes);
  return *this;
}
CacheKey::~CacheKey() { OPENSSL_cleanse(bytes, sizeof bytes); }

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<CacheKey> read_cache_key(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  // A symlink could be redirected by whoever owns the directory it sits in: name the
  // real file instead.
  if (fd < 0 && errno == ELOOP)
    return make_error(ELOOP, "the cache_key file is a symbolic link (refused: give the path of the key file itself)");
  if (fd < 0) return make_error(errno, "cannot open the cache_key file");
  struct stat st {};
  if (::fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(EINVAL, "the cache_key file is not a regular file");
  }
  // As ssh does with its keys: a file another user owns could be swapped or read by them.
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return make_error(EPERM, "the cache_key file is owned by another user: it must be the mounting user's own");
  }
  if (st.st_mode & 077) {
    ::close(fd);
    return make_error(EPERM, "the cache_key file may be read or written by group or others: chmod 600 it");
  }
  char text[80] = {};
  ssize_t n = ::read(fd, text, sizeof text);
  ::close(fd);
  CacheKey k;
  bool ok = n >= 64 && (n == 64 || (n == 65 && text[64] == '\n'));
  for (int i = 0; ok && i < 32; i++) {
    int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    k.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  OPENSSL_cleanse(text, sizeof text);
  if (!ok) return make_error(EINVAL, "the cache_key file must hold 64 hex digits (netfs cache --new-key FILE makes one)");
  return k;
}

Status write_new_cache_key(const std::string& path) {
  CacheKey k;
  if (RAND_bytes(k.bytes, sizeof k.bytes) != 1) return make_error(EIO, "no random bytes for a key");
  char text[65];
  static const char* kHex = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    text[2 * i] = kHex[k.bytes[i] >> 4];
    text[2 * i + 1] = kHex[k.bytes[i] & 15];
  }
  text[64] = '\n';
  // 0600 whatever the umask: O_CREAT's mode is masked, fchmod is not.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    OPENSSL_cleanse(text, sizeof text);
    return make_error(errno, errno == EEXIST ? "the key file exists; a key is never overwritten" : "create key file");
  }
  Status st = ::fchmod(fd, 0600) < 0 ? Status(make_error(errno, "chmod key file")) : ok_status();
  if (st.ok()) st = pwrite_all(fd, text, sizeof text, 0, "write key file");
  if (st.ok() && ::fsync(fd) < 0) st = make_error(errno, "sync key file");
  OPENSSL_cleanse(text, sizeof text);
  ::close(fd);
  if (!st.ok()) ::unlink(path.c_str());
  return st;
}

}  // namespace netfs::cache
