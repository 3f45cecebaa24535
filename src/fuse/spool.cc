#include "fuse/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "cache/cipher.h"
#include "cache/file_io.h"
#include "fuse/mount_options.h"

namespace netfs::fuse {

namespace {

constexpr const char* kMagic = "netfs-spool 1";
// A sealed manifest: this, then the Seal, then the sealed text of a plain one.
constexpr char kSealedMagic[8] = {'N', 'F', 'S', 'P', 'O', 'O', 'L', 'S'};
constexpr size_t kSealSize = sizeof(cache::Seal::nonce) + sizeof(cache::Seal::tag);

// The associated data binds each sealed block to its entry (and a chunk to its place and
// the data's length), so blocks cannot be swapped between entries, moved or cut off.
cache::Aad manifest_aad(const std::string& id) { return std::move(cache::Aad("netfs spool manifest v1").str(id)); }
cache::Aad data_aad(const std::string& id, uint64_t chunk, uint64_t total) {
  return std::move(cache::Aad("netfs spool data v1").str(id).u64(chunk).u64(total));
}

// Names and URLs go on one line each: '%' and newlines are escaped.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%')
      out += "%25";
    else if (c == '\n')
      out += "%0A";
    else
      out += c;
  }
  return out;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s.compare(i, 3, "%25") == 0) {
      out += '%';
      i += 2;
    } else if (s.compare(i, 3, "%0A") == 0) {
      out += '\n';
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// mkdir -p with mode 0700 for what it creates.
Status make_dirs(const std::string& dir) {
  std::string cur;
  size_t i = 0;
  while (i <= dir.size()) {
    size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    cur = dir.substr(0, j);
    if (!cur.empty() && ::mkdir(cur.c_str(), 0700) < 0 && errno != EEXIST) return make_error(errno, "mkdir spool");
    i = j + 1;
  }
  return ok_status();
}

Status fsync_path(const std::string& p, int flags) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return make_error(errno, "open for fsync");
  int r = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return r == 0 ? ok_status() : make_error(err, "fsync");
}

bool parse_manifest(const std::string& text, SpoolEntry* e) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kMagic) return false;
  bool end = false;
  while (std::getline(in, line)) {
    std::string key = line.substr(0, line.find(' '));
    std::string val = line.size() > key.size() ? line.substr(key.size() + 1) : "";
    std::istringstream v(val);
    if (key == "export") {
      e->export_url = unescape(val);
    } else if (key == "path") {
      e->path = unescape(val);
    } else if (key == "size") {
      v >> e->size;
    } else if (key == "saved") {
      v >> e->saved_at;
    } else if (key == "seen") {
      e->seen_valid = true;
      v >> e->qid_path >> e->version >> e->mtime_sec >> e->mtime_nsec >> e->server_size;
    } else if (key == "range") {
      uint64_t off = 0, len = 0;
      v >> off >> len;
      e->ranges.emplace_back(off, len);
    } else if (key == "end") {
      end = true;
    }
  }
  return end && !e->export_url.empty() && !e->path.empty();
}

// Plaintext of sealed blocks does not stay in freed memory.
void cache_wipe(std::vector<uint8_t>& v) { explicit_bzero(v.data(), v.size()); }

}  // namespace

uint64_t SpoolEntry::bytes() const {
  uint64_t n = 0;
  for (const auto& r : ranges) n += r.second;
  return n;
}

std::string default_spool_dir() {
  if (geteuid() == 0) return "/var/lib/netfs/spool";
  if (const char* x = getenv("XDG_STATE_HOME"); x && *x == '/') return std::string(x) + "/netfs/spool";
  if (const char* h = getenv("HOME"); h && *h == '/') return std::string(h) + "/.local/state/netfs/spool";
  return "/tmp/netfs-" + std::to_string(geteuid()) + "/spool";
}

std::string spool_dir_for(const MountOptions& opts) {
  if (!opts.spool_dir.empty()) return opts.spool_dir;
  if (!opts.cache.dir.empty()) return opts.cache.dir + "/spool";
  return default_spool_dir();
}

Status Spool::save(SpoolEntry& e, const std::vector<std::byte>& data) {
  NETFS_TRY(make_dirs(dir_));
  static std::atomic<unsigned> seq{0};
  e.saved_at = static_cast<uint64_t>(::time(nullptr));
  e.id = std::to_string(e.saved_at) + "-" + std::to_string(getpid()) + "-" + std::to_string(seq++);
  e.sealed = cipher_ != nullptr;
  // A sealed entry's name shows neither when nor by which process it was saved.
  if (e.sealed) e.id = cipher_->name("spool " + e.id);
  const std::string base = dir_ + "/" + e.id;

  int fd = ::open((base + ".data").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errno, "create spool data");
  Status st = ok_status();
  if (!e.sealed) {
    st = cache::pwrite_all(fd, data.data(), data.size(), 0, "write spool data");
  } else {
    std::vector<uint8_t> block(kSealSize + kSpoolChunk);
    for (uint64_t i = 0, at = 0; st.ok() && at < data.size(); i++, at += kSpoolChunk) {
      size_t n = std::min<size_t>(kSpoolChunk, data.size() - at);
      cache::Seal seal;
      std::memcpy(block.data() + kSealSize, data.data() + at, n);
      if (!cipher_->seal(block.data() + kSealSize, n, data_aad(e.id, i, data.size()).span(), &seal)) {
        st = make_error(EIO, "seal spool data");
        break;
      }
      std::memcpy(block.data(), seal.nonce, sizeof seal.nonce);
      std::memcpy(block.data() + sizeof seal.nonce, seal.tag, sizeof seal.tag);
      st = cache::pwrite_all(fd, block.data(), kSealSize + n, i * (kSealSize + kSpoolChunk), "write spool data");
    }
    cache_wipe(block);
  }
  if (st.ok() && ::fsync(fd) != 0) st = make_error(errno, "fsync spool data");
  ::close(fd);
  if (!st.ok()) {
    ::unlink((base + ".data").c_str());
    return st;
  }

  std::ostringstream m;
  m << kMagic << "\n";
  m << "export " << escape(e.export_url) << "\n";
  m << "path " << escape(e.path) << "\n";
  m << "size " << e.size << "\n";
  m << "saved " << e.saved_at << "\n";
  if (e.seen_valid)
    m << "seen " << e.qid_path << " " << e.version << " " << e.mtime_sec << " " << e.mtime_nsec << " "
      << e.server_size << "\n";
  for (const auto& [off, len] : e.ranges) m << "range " << off << " " << len << "\n";
  m << "end\n";  // a manifest without it was cut short: ignored
  std::string text = m.str();
  if (e.sealed) {
    cache::Seal seal;
    if (!cipher_->seal(text.data(), text.size(), manifest_aad(e.id).span(), &seal)) {
      ::unlink((base + ".data").c_str());
      return make_error(EIO, "seal spool manifest");
    }
    text = std::string(kSealedMagic, sizeof kSealedMagic) +
           std::string(reinterpret_cast<const char*>(seal.nonce), sizeof seal.nonce) +
           std::string(reinterpret_cast<const char*>(seal.tag), sizeof seal.tag) + text;
  }
  const std::string tmp = base + ".manifest.tmp";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errno, "create spool manifest");
  st = cache::pwrite_all(fd, text.data(), text.size(), 0, "write spool manifest");
  if (st.ok() && ::fsync(fd) != 0) st = make_error(errno, "fsync spool manifest");
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), (base + ".manifest").c_str()) != 0) st = make_error(errno, "rename manifest");
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    ::unlink((base + ".data").c_str());
    return st;
  }
  // The rename is durable only once the directory is.
  return fsync_path(dir_, O_RDONLY | O_DIRECTORY);
}

Result<std::vector<SpoolEntry>> Spool::list(const std::string& export_url, size_t* unreadable) const {
  std::vector<SpoolEntry> out;
  if (unreadable) *unreadable = 0;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return make_error(errno, "open spool directory");
  }
  while (dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    const std::string suffix = ".manifest";
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    std::ifstream in(dir_ + "/" + name, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    SpoolEntry e;
    e.id = name.substr(0, name.size() - suffix.size());
    if (text.size() >= sizeof kSealedMagic + kSealSize && text.compare(0, sizeof kSealedMagic, kSealedMagic,
                                                                       sizeof kSealedMagic) == 0) {
      cache::Seal seal;
      std::memcpy(seal.nonce, text.data() + sizeof kSealedMagic, sizeof seal.nonce);
      std::memcpy(seal.tag, text.data() + sizeof kSealedMagic + sizeof seal.nonce, sizeof seal.tag);
      text.erase(0, sizeof kSealedMagic + kSealSize);
      if (!cipher_ || !cipher_->open(text.data(), text.size(), manifest_aad(e.id).span(), seal)) {
        if (unreadable) ++*unreadable;
        continue;
      }
      e.sealed = true;
    }
    if (!parse_manifest(text, &e)) continue;
    if (!export_url.empty() && e.export_url != export_url) continue;
    out.push_back(std::move(e));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const SpoolEntry& a, const SpoolEntry& b) {
    return std::pair(a.saved_at, a.id) < std::pair(b.saved_at, b.id);
  });
  return out;
}

Status Spool::read(const SpoolEntry& e, uint64_t at, void* buf, size_t len) const {
  int fd = ::open((dir_ + "/" + e.id + ".data").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno, "open spool data");
  if (!e.sealed) {
    Status st = cache::pread_all(fd, buf, len, at, "read spool data");
    ::close(fd);
    return st;
  }
  Status st = ok_status();
  const uint64_t total = e.bytes();
  if (!cipher_) st = make_error(ENOKEY, "spool entry sealed and no cache key");
  if (st.ok() && (at > total || len > total - at)) st = make_error(EINVAL, "read past the spool entry's data");
  std::vector<uint8_t> block(kSealSize + kSpoolChunk);
  auto* out = static_cast<uint8_t*>(buf);
  while (st.ok() && len > 0) {
    const uint64_t i = at / kSpoolChunk;
    const size_t n = std::min<uint64_t>(kSpoolChunk, total - i * kSpoolChunk);
    st = cache::pread_all(fd, block.data(), kSealSize + n, i * (kSealSize + kSpoolChunk), "read spool data");
    if (!st.ok()) break;
    cache::Seal seal;
    std::memcpy(seal.nonce, block.data(), sizeof seal.nonce);
    std::memcpy(seal.tag, block.data() + sizeof seal.nonce, sizeof seal.tag);
    if (!cipher_->open(block.data() + kSealSize, n, data_aad(e.id, i, total).span(), seal)) {
      st = make_error(EBADMSG, "spool data does not authenticate (tampered with or torn)");
      break;
    }
    const size_t skip = at - i * kSpoolChunk;
    const size_t take = std::min<size_t>(len, n - skip);
    std::memcpy(out, block.data() + kSealSize + skip, take);
    out += take;
    at += take;
    len -= take;
  }
  cache_wipe(block);
  ::close(fd);
  return st;
}

Status Spool::remove(const SpoolEntry& e) {
  const std::string base = dir_ + "/" + e.id;
  if (::unlink((base + ".manifest").c_str()) != 0 && errno != ENOENT) return make_error(errno, "remove manifest");
  ::unlink((base + ".data").c_str());
  return fsync_path(dir_, O_RDONLY | O_DIRECTORY);
}

}  // namespace netfs::fuse
