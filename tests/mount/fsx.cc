// netfs_fsx: an integrity exerciser in the spirit of fsx, written for netfs. It applies
// random writes, reads, truncates, mmap reads and writes, fsyncs and close/reopen cycles
// to one file, keeps what the file must contain in memory, and checks every read against
// it. On the first mismatch it prints the operation log and exits 1. Reproducible: the
// same seed gives the same operations.
//
//   netfs_fsx FILE [-N ops] [-S seed] [-l max_file_len] [-o max_op_len] [--no-mmap]
//             [--server PATH]   (after the run, PATH, the file as the server holds it,
//                                must equal the model too)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

namespace {

struct Config {
  std::string file, server;
  uint64_t ops = 10000;
  uint64_t seed = 1;
  size_t max_len = 1 << 20;   // file size stays below this
  size_t max_op = 128 << 10;  // bytes per read / write
  bool mmap = true;
};

class Fsx {
 public:
  explicit Fsx(const Config& c) : c_(c), rng_(c.seed) {}

  int run() {
    fd_ = ::open(c_.file.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (fd_ < 0) return fail("open: %s", strerror(errno));
    for (op_ = 1; op_ <= c_.ops; op_++) {
      unsigned pick = rng_() % 100;
      bool ok;
      if (pick < 30) ok = do_write();
      else if (pick < 55) ok = do_read();
      else if (pick < 63) ok = do_truncate();
      else if (pick < 73) ok = c_.mmap ? do_mapread() : do_read();
      else if (pick < 83) ok = c_.mmap ? do_mapwrite() : do_write();
      else if (pick < 90) ok = do_fsync();
      else ok = do_reopen();
      if (!ok) return 1;
    }
    if (!do_reopen()) return 1;
    if (::close(fd_) != 0) return fail("final close: %s", strerror(errno));
    fd_ = -1;
    if (!c_.server.empty() && !check_file(c_.server, "server copy")) return 1;
    printf("fsx: %" PRIu64 " operations, seed %" PRIu64 ", final size %zu: OK\n", c_.ops, c_.seed, model_.size());
    return 0;
  }

 private:
  template <class... A>
  int fail(const char* fmt, A... a) {
    fprintf(stderr, "fsx: op %" PRIu64 " (seed %" PRIu64 "): ", op_, c_.seed);
    fprintf(stderr, fmt, a...);
    fprintf(stderr, "\nlast operations:\n");
    for (const auto& l : log_) fprintf(stderr, "  %s\n", l.c_str());
    return 1;
  }
  template <class... A>
  void note(const char* fmt, A... a) {
    char buf[160];
    int n = snprintf(buf, sizeof buf, "%6" PRIu64 " ", op_);
    snprintf(buf + n, sizeof buf - n, fmt, a...);
    log_.emplace_back(buf);
    if (log_.size() > 60) log_.pop_front();
  }

  size_t rand_below(size_t n) { return n ? rng_() % n : 0; }

  bool compare(const unsigned char* got, size_t off, size_t len, const char* what) {
    for (size_t i = 0; i < len; i++) {
      if (got[i] != model_[off + i]) {
        fail("%s mismatch at offset %zu (0x%zx): got 0x%02x, expected 0x%02x (read %zu bytes at %zu)", what,
             off + i, off + i, got[i], model_[off + i], len, off);
        return false;
      }
    }
    return true;
  }

  bool do_write() {
    size_t off = rand_below(c_.max_len), len = 1 + rand_below(c_.max_op);
    if (off + len > c_.max_len) len = c_.max_len - off;
    if (!len) return true;
    std::vector<unsigned char> buf(len);
    for (auto& b : buf) b = static_cast<unsigned char>(rng_() % 255 + 1);
    note("write    %8zu %7zu (size %zu)", off, len, model_.size());
    ssize_t n = ::pwrite(fd_, buf.data(), len, static_cast<off_t>(off));
    if (n != static_cast<ssize_t>(len)) return !fail("pwrite returned %zd: %s", n, strerror(errno));
    if (off + len > model_.size()) model_.resize(off + len, 0);
    std::memcpy(model_.data() + off, buf.data(), len);
    return true;
  }

  bool do_read() {
    if (model_.empty()) return true;
    size_t off = rand_below(model_.size()), len = 1 + rand_below(c_.max_op);
    note("read     %8zu %7zu", off, len);
    std::vector<unsigned char> buf(len);
    ssize_t n = ::pread(fd_, buf.data(), len, static_cast<off_t>(off));
    size_t want = std::min(len, model_.size() - off);
    if (n != static_cast<ssize_t>(want)) return !fail("pread returned %zd, expected %zu: %s", n, want, strerror(errno));
    return compare(buf.data(), off, want, "read");
  }

  bool do_truncate() {
    size_t size = rand_below(c_.max_len);
    note("truncate %8zu (from %zu)", size, model_.size());
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return !fail("ftruncate: %s", strerror(errno));
    model_.resize(size, 0);
    return true;
  }

  bool map_range(size_t* off, size_t* len) {
    if (model_.empty()) return false;
    *off = rand_below(model_.size());
    *len = std::min<size_t>(1 + rand_below(c_.max_op), model_.size() - *off);
    return true;
  }

  bool do_mapread() {
    size_t off, len;
    if (!map_range(&off, &len)) return true;
    note("mapread  %8zu %7zu", off, len);
    size_t pg = static_cast<size_t>(sysconf(_SC_PAGESIZE)), base = off & ~(pg - 1);
    void* p = ::mmap(nullptr, off + len - base, PROT_READ, MAP_SHARED, fd_, static_cast<off_t>(base));
    if (p == MAP_FAILED) return !fail("mmap read: %s", strerror(errno));
    bool ok = compare(static_cast<unsigned char*>(p) + (off - base), off, len, "mapread");
    ::munmap(p, off + len - base);
    return ok;
  }

  bool do_mapwrite() {
    size_t off, len;
    if (!map_range(&off, &len)) return true;
    note("mapwrite %8zu %7zu", off, len);
    size_t pg = static_cast<size_t>(sysconf(_SC_PAGESIZE)), base = off & ~(pg - 1);
    void* p = ::mmap(nullptr, off + len - base, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, static_cast<off_t>(base));
    if (p == MAP_FAILED) return !fail("mmap write: %s", strerror(errno));
    auto* d = static_cast<unsigned char*>(p) + (off - base);
    for (size_t i = 0; i < len; i++) d[i] = model_[off + i] = static_cast<unsigned char>(rng_() % 255 + 1);
    int r = ::msync(p, off + len - base, MS_SYNC);
    ::munmap(p, off + len - base);
    if (r != 0) return !fail("msync: %s", strerror(errno));
    return true;
  }

  bool do_fsync() {
    note("fsync");
    if (::fsync(fd_) != 0) return !fail("fsync: %s", strerror(errno));
    return true;
  }

  bool check_file(const std::string& path, const char* what) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return !fail("%s: open: %s", what, strerror(errno));
    struct stat st;
    ::fstat(fd, &st);
    if (static_cast<size_t>(st.st_size) != model_.size()) {
      ::close(fd);
      return !fail("%s: size %jd, expected %zu", what, static_cast<intmax_t>(st.st_size), model_.size());
    }
    std::vector<unsigned char> buf(model_.size());
    size_t got = 0;
    while (got < buf.size()) {
      ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(got));
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    if (got != buf.size()) return !fail("%s: read %zu of %zu bytes", what, got, buf.size());
    return compare(buf.data(), 0, buf.size(), what);
  }

  bool do_reopen() {
    note("close+open (size %zu)", model_.size());
    if (::close(fd_) != 0) return !fail("close: %s", strerror(errno));
    if (!check_file(c_.file, "after close")) return false;
    fd_ = ::open(c_.file.c_str(), O_RDWR);
    if (fd_ < 0) return !fail("reopen: %s", strerror(errno));
    return true;
  }

  Config c_;
  std::mt19937_64 rng_;
  std::vector<unsigned char> model_;
  std::deque<std::string> log_;
  uint64_t op_ = 0;
  int fd_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        fprintf(stderr, "fsx: %s needs a value\n", a.c_str());
        exit(2);
      }
      return argv[++i];
    };
    if (a == "-N") c.ops = std::strtoull(next(), nullptr, 10);
    else if (a == "-S") c.seed = std::strtoull(next(), nullptr, 10);
    else if (a == "-l") c.max_len = std::strtoull(next(), nullptr, 10);
    else if (a == "-o") c.max_op = std::strtoull(next(), nullptr, 10);
    else if (a == "--no-mmap") c.mmap = false;
    else if (a == "--server") c.server = next();
    else if (c.file.empty() && a[0] != '-') c.file = a;
    else {
      fprintf(stderr, "usage: netfs_fsx FILE [-N ops] [-S seed] [-l maxlen] [-o maxop] [--no-mmap] [--server PATH]\n");
      return 2;
    }
  }
  if (c.file.empty() || c.max_len == 0 || c.max_op == 0) {
    fprintf(stderr, "usage: netfs_fsx FILE [-N ops] [-S seed] [-l maxlen] [-o maxop] [--no-mmap] [--server PATH]\n");
    return 2;
  }
  return Fsx(c).run();
}
