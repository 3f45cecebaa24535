// p9_bench: how fast the 9P client moves bytes, measured in one run against the same
// disk without 9P.
//
// For each depth (RPCs in flight: the client's max_inflight), it writes SIZE MiB through
// the engine (perform_write, then fsync write-back and a Tfsync) and reads them back
// through the engine (buffered_read in 1 MiB calls, readahead on a cold inode), then writes and reads the same bytes with
// pwrite/pread (1 MiB calls, fsync) on the exported directory, and prints both as MiB/s
// and as a ratio. It also runs shared/tools/p9bench.py, a minimal pipelined Python
// client, at the same depths against the same server, for comparison.
//
// Then, for each depth, the engine path again with 1, 2 and 4 connections
// (ClientOptions::connections: data RPCs spread over them, depth in flight on each), and
// last the cost of a create/lookup/open/close/unlink cycle on the Namespace API with
// clunk asynchronous (as it is) and synchronous (the old Namespace::clunk, reproduced
// here): microseconds per cycle and round trips the caller waited for.
//
// The export lives in /dev/shm unless --dir says otherwise: on tmpfs both sides measure
// the path to the bytes (syscalls, copies, the protocol), not the host's disk write-back,
// which otherwise dominates and varies by a factor of three between runs.
//
// And the rate of small RPCs: `--getattrs N` pipelined Tgetattrs per depth (each
// completion sends the next, `depth` chains), the cost that batching many replies per
// socket read keeps low.
//
// The client's Tread phase (cli.r) receives with Client::call_read (the Rread data read
// from the socket straight into the buffer) when the client has it, and copies from the
// reply otherwise, so the same file builds against an older src/p9 for a before/after.
//
// And `--creates N`: N files made in one directory the way the mount makes them (create,
// Tgetattr, a 4 KiB Twrite, Tgetattr, clunk), with Namespace::create (a spare clone of
// the directory fid per create, issue 7) and with the clone walk waited for (the old
// create, reproduced here): microseconds and round trips waited for per file.
//
// Usage: p9_bench [--size-mib N] [--depths 1,4,16] [--conns 1,2,4|none] [--cycles N]
//                 [--getattrs N] [--creates N] [--python PATH|none] [--dir PARENT]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "integration/diod_server.h"
#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/read.h"
#include "netfs/write.h"
#include "p9/backend.h"
#include "p9/client.h"
#include "p9/lanes.h"
#include "p9/namespace_ops.h"

using namespace netfs;
using Clock = std::chrono::steady_clock;

namespace {

double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Whether this src/p9 has zero-copy receive (it did not before issue 7's read work).
template <class C>
constexpr bool kHasCallRead = requires(C& c, p9::Bytes m, std::vector<iovec> v, p9::Completion done) {
  c.call_read(std::move(m), std::move(v), p9::Replay::kResend, std::move(done));
};

struct Rates {
  double write = 0, read = 0;  // MiB/s
  double writeback = 0;        // engine only: the write-back phase alone (fsync + Tfsync)
};

bool fail(const char* what, const Error& e) {
  std::fprintf(stderr, "p9_bench: %s: %s\n", what, e.message().c_str());
  return false;
}

bool run_9p(testing::DiodServer& diod, size_t depth, const std::vector<std::byte>& data, Rates& out,
            size_t conns = 1) {
  const size_t size = data.size();
  Options eo;
  eo.dirty_limit = 2 * size;  // the whole file stays dirty until fsync writes it back
  Engine engine(eo);
  p9::ClientOptions o;
  o.endpoint = diod.endpoint();
  o.aname = diod.dir();
  o.n_uname = static_cast<uint32_t>(geteuid());
  o.max_inflight = depth;
  o.connections = conns;
  auto client = p9::Client::connect(o);
  if (!client.ok()) return fail("connect", client.error());
  p9::Namespace ns(**client);
  p9::Backend backend(**client);
  std::string name = "bench-" + std::to_string(depth);
  auto f = ns.create(p9::Namespace::root(), name, O_RDWR | O_TRUNC, 0644);
  if (!f.ok()) return fail("create", f.error());
  {
    auto inode = engine.new_inode(backend, f->fid, 0);
    auto t0 = Clock::now();
    auto w = perform_write(*inode, 0, data.data(), size);
    if (!w.ok()) return fail("perform_write", w.error());
    auto t1 = Clock::now();
    Errseq::Cursor cur = 0;
    Status st = fsync(*inode, cur);
    if (!st.ok()) return fail("fsync", st.error());
    st = ns.fsync(f->fid, false);
    if (!st.ok()) return fail("Tfsync", st.error());
    auto t2 = Clock::now();
    out.write = double(size >> 20) / secs(t0, t2);
    out.writeback = double(size >> 20) / secs(t1, t2);

  }
  {
    // A fresh inode, so nothing is cached: a reader's buffered_read in 1 MiB calls, with
    // the engine's readahead issuing msize-sized subrequests through the backend.
    auto inode = engine.new_inode(backend, f->fid, size);
    ReadaheadState ra;
    std::vector<std::byte> back(size);
    auto t0 = Clock::now();
    size_t got = 0;
    while (got < size) {
      auto r = buffered_read(*inode, ra, got, back.data() + got, std::min<size_t>(1 << 20, size - got));
      if (!r.ok()) return fail("buffered_read", r.error());
      if (*r == 0) break;
      got += *r;
    }
    out.read = double(size >> 20) / secs(t0, Clock::now());
    if (got != size || back != data) {
      std::fprintf(stderr, "p9_bench: read back differs from what was written\n");
      return false;
    }
  }
  if (getenv("P9_BENCH_VERBOSE")) {
    std::fprintf(stderr, "  depth %zu conns %zu: %s\n", depth, conns, (*client)->stats().format().c_str());
    if (p9::Lanes* l = (*client)->lanes())
      for (size_t i = 0; i < l->size(); i++)
        std::fprintf(stderr, "    lane %zu: %s\n", i, l->client(i).stats().format().c_str());
  }
  (void)ns.clunk(f->fid);
  (void)ns.unlink(p9::Namespace::root(), name);
  return true;
}

// The client alone, as p9bench.py works: Twrite after Twrite from the caller's buffer
// (zero-copy), then Tfsync, then Treads; the client's max_inflight bounds the depth.
bool run_raw(testing::DiodServer& diod, size_t depth, const std::vector<std::byte>& data, Rates& out) {
  const size_t size = data.size();
  p9::ClientOptions o;
  o.endpoint = diod.endpoint();
  o.aname = diod.dir();
  o.n_uname = static_cast<uint32_t>(geteuid());
  o.max_inflight = depth;
  auto client = p9::Client::connect(o);
  if (!client.ok()) return fail("connect", client.error());
  p9::Client& c = **client;
  p9::Namespace ns(c);
  auto f = ns.create(p9::Namespace::root(), "raw", O_RDWR | O_TRUNC, 0644);
  if (!f.ok()) return fail("create", f.error());
  const size_t chunk = c.max_io(), n = (size + chunk - 1) / chunk;
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0, bytes = 0;
  int err = 0;
  auto finish = [&](size_t got, int e) {
    std::lock_guard lk(mu);
    bytes += got;
    if (e && !err) err = e;
    if (++done == n) cv.notify_all();
  };
  auto wait_all = [&] {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return done == n; });
  };

  auto t0 = Clock::now();
  for (size_t i = 0; i < n; i++) {
    size_t len = std::min(chunk, size - i * chunk);
    std::vector<iovec> seg{{const_cast<std::byte*>(data.data()) + i * chunk, len}};
    c.call(p9::encode_twrite_header(f->fid, i * chunk, static_cast<uint32_t>(len)), std::move(seg),
           p9::MsgType::kRwrite, p9::Replay::kFail, [&](Result<p9::Reply> r) {
             if (!r.ok()) return finish(0, r.errnum());
             auto w = p9::decode<p9::msg::Rwrite>(r->body);
             finish(w.ok() ? w->count : 0, w.ok() ? 0 : EPROTO);
           });
  }
  wait_all();
  Status st = ns.fsync(f->fid, false);
  if (err || !st.ok() || bytes != size) return fail("raw write", make_error(err ? err : EIO));
  out.write = double(size >> 20) / secs(t0, Clock::now());

  std::vector<std::byte> back(size);
  done = bytes = 0;
  t0 = Clock::now();
  for (size_t i = 0; i < n; i++) {
    size_t len = std::min(chunk, size - i * chunk);
    std::byte* dst = back.data() + i * chunk;
    p9::Bytes tread = p9::encode(p9::msg::Tread{f->fid, i * chunk, static_cast<uint32_t>(len)}).value();
    // A generic lambda, so that the branch this client cannot compile is discarded.
    [&](auto& cl) {
      if constexpr (kHasCallRead<std::decay_t<decltype(cl)>>) {
        cl.call_read(std::move(tread), {{dst, len}}, p9::Replay::kResend, [&](auto r) {  // generic: discarded unless the client has call_read
          if (!r.ok()) return finish(0, r.errnum());
          finish(r->data_len, 0);
        });
      } else {
        cl.call(std::move(tread), p9::MsgType::kRread, p9::Replay::kResend, [&, dst, len](Result<p9::Reply> r) {
          if (!r.ok()) return finish(0, r.errnum());
          auto d = p9::decode<p9::msg::Rread>(r->body);
          if (!d.ok() || d->data.v.size() > len) return finish(0, EPROTO);
          std::memcpy(dst, d->data.v.data(), d->data.v.size());
          finish(d->data.v.size(), 0);
        });
      }
    }(c);
  }
  wait_all();
  if (err || bytes != size) return fail("raw read", make_error(err ? err : EIO));
  out.read = double(size >> 20) / secs(t0, Clock::now());
  if (back != data) {
    std::fprintf(stderr, "p9_bench: raw read back differs\n");
    return false;
  }
  (void)ns.clunk(f->fid);
  (void)ns.unlink(p9::Namespace::root(), "raw");
  return true;
}

// `n` Tgetattrs on the root fid, `depth` in flight (each completion sends the next):
// RPCs per second.
bool run_getattrs(testing::DiodServer& diod, size_t depth, size_t n, double& rate) {
  p9::ClientOptions o;
  o.endpoint = diod.endpoint();
  o.aname = diod.dir();
  o.n_uname = static_cast<uint32_t>(geteuid());
  o.max_inflight = depth;
  auto client = p9::Client::connect(o);
  if (!client.ok()) return fail("connect", client.error());
  p9::Client& c = **client;
  std::mutex mu;
  std::condition_variable cv;
  size_t sent = 0, done = 0;
  int err = 0;
  // Each completion sends the next call before it counts itself done: once done == n
  // this function returns and its locals go, so the last completion touches nothing
  // after its notify (made under the lock the waiter needs).
  std::function<void()> send = [&] {
    c.call(p9::encode(p9::msg::Tgetattr{p9::FidTable::kRootFid, p9::getattr_mask::kBasic}).value(),
           p9::MsgType::kRgetattr, p9::Replay::kResend, [&](Result<p9::Reply> r) {
             bool more;
             {
               std::lock_guard lk(mu);
               more = sent < n;
               if (more) sent++;
             }
             if (more) send();
             std::lock_guard lk(mu);
             if (!r.ok() && !err) err = r.errnum();
             if (++done == n) cv.notify_all();
           });
  };
  auto t0 = Clock::now();
  {
    std::lock_guard lk(mu);
    sent = std::min(depth, n);
  }
  for (size_t i = 0; i < std::min(depth, n); i++) send();
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return done == n; });
  rate = double(n) / secs(t0, Clock::now());
  if (err) return fail("getattr", make_error(err));
  return true;
}

// create, lookup, open, clunk, clunk, unlink, `n` times; with `sync_clunk` the clunks
// wait for Rclunk as Namespace::clunk did before it became asynchronous (issue 7).
struct Cycles {
  double us = 0;          // per cycle
  double round_trips = 0;  // the caller waited for, per cycle
};
bool run_cycles(testing::DiodServer& diod, size_t n, bool sync_clunk, Cycles& out) {
  p9::ClientOptions o;
  o.endpoint = diod.endpoint();
  o.aname = diod.dir();
  o.n_uname = static_cast<uint32_t>(geteuid());
  auto client = p9::Client::connect(o);
  if (!client.ok()) return fail("connect", client.error());
  p9::Client& c = **client;
  p9::Namespace ns(c);
  // The old Namespace::clunk, word for word.
  auto clunk = [&](uint32_t fid) {
    if (!sync_clunk) return ns.clunk(fid);
    auto r = c.rpc<p9::msg::Rclunk>(p9::msg::Tclunk{fid});
    c.fids().release(fid);
    return r.ok() ? ok_status() : Status(r.error());
  };
  auto cycle = [&](const std::string& name) {
    auto f = ns.create(p9::Namespace::root(), name, O_RDWR | O_CREAT, 0644);
    if (!f.ok()) return fail("create", f.error());
    auto e = ns.lookup(p9::Namespace::root(), name);
    if (!e.ok()) return fail("lookup", e.error());
    auto op = ns.open(e->fid, O_RDONLY);
    if (!op.ok()) return fail("open", op.error());
    (void)clunk(e->fid);
    (void)clunk(f->fid);
    Status st = ns.unlink(p9::Namespace::root(), name);
    if (!st.ok()) return fail("unlink", st.error());
    return true;
  };
  if (!cycle("cycle-warm-up")) return false;  // learns that diod has no Tunlinkat
  uint64_t waited = c.stats().sync_rpcs;
  auto t0 = Clock::now();
  for (size_t i = 0; i < n; i++)
    if (!cycle("cycle-" + std::to_string(i))) return false;
  out.us = secs(t0, Clock::now()) * 1e6 / double(n);
  out.round_trips = double(c.stats().sync_rpcs - waited) / double(n);
  return true;
}

// `n` files made in one directory as the mount makes them; with `sync_clone` the create
// waits for its clone walk (Namespace::create before the spare clones, word for word).
struct Creates {
  double us = 0;           // per file
  double round_trips = 0;  // the caller waited for, per file
  uint64_t missed = 0;     // creates that found no spare ready
};
bool run_creates(testing::DiodServer& diod, size_t n, bool sync_clone, const std::string& tag, Creates& out) {
  p9::ClientOptions o;
  o.endpoint = diod.endpoint();
  o.aname = diod.dir();
  o.n_uname = static_cast<uint32_t>(geteuid());
  auto client = p9::Client::connect(o);
  if (!client.ok()) return fail("connect", client.error());
  p9::Client& c = **client;
  p9::Namespace ns(c);
  std::string dname = "creates-" + tag;
  if (auto m = ns.mkdir(p9::Namespace::root(), dname, 0755); !m.ok()) return fail("mkdir", m.error());
  auto d = ns.lookup(p9::Namespace::root(), dname);
  if (!d.ok()) return fail("lookup", d.error());
  auto create = [&](const std::string& name) -> Result<uint32_t> {
    uint32_t fl = O_RDWR | O_CREAT | O_EXCL;
    if (!sync_clone) {
      auto f = ns.create(d->fid, name, fl, 0644);
      if (!f.ok()) return f.error();
      return f->fid;
    }
    auto clone = ns.walk(d->fid, {});
    if (!clone.ok()) return clone.error();
    auto r = c.rpc<p9::msg::Rlcreate>(p9::msg::Tlcreate{clone->fid, name, fl, 0644, 0}, p9::Replay::kFail);
    if (!r.ok()) return r.error();
    auto fi = *c.fids().get(d->fid);
    fi.path.push_back(name);
    c.fids().set(clone->fid, p9::FidInfo{fi.path, r->qid, fl, false, true, {}, 0});
    return clone->fid;
  };
  std::vector<std::byte> block(4096, std::byte{7});
  uint64_t waited = c.stats().sync_rpcs, missed = c.stats().create_spares_missed;
  auto t0 = Clock::now();
  for (size_t i = 0; i < n; i++) {
    auto f = create("f" + std::to_string(i));
    if (!f.ok()) return fail("create", f.error());
    if (auto a = ns.getattr(*f); !a.ok()) return fail("getattr", a.error());
    if (auto w = ns.write(*f, 0, block.data(), block.size()); !w.ok()) return fail("write", w.error());
    if (auto a = ns.getattr(*f); !a.ok()) return fail("getattr", a.error());
    (void)ns.clunk(*f);
  }
  out.us = secs(t0, Clock::now()) * 1e6 / double(n);
  out.round_trips = double(c.stats().sync_rpcs - waited) / double(n);
  out.missed = c.stats().create_spares_missed - missed;
  (void)ns.clunk(d->fid);
  return true;
}

bool run_local(const std::string& dir, const std::vector<std::byte>& data, Rates& out) {
  const size_t size = data.size(), chunk = 1 << 20;
  std::string path = dir + "/bench-local";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  auto t0 = Clock::now();
  for (size_t off = 0; off < size; off += chunk)
    if (pwrite(fd, data.data() + off, std::min(chunk, size - off), static_cast<off_t>(off)) < 0) return false;
  if (fsync(fd) < 0) return false;
  out.write = double(size >> 20) / secs(t0, Clock::now());
  std::vector<std::byte> back(size);
  t0 = Clock::now();
  for (size_t off = 0; off < size; off += chunk)
    if (pread(fd, back.data() + off, std::min(chunk, size - off), static_cast<off_t>(off)) < 0) return false;
  out.read = double(size >> 20) / secs(t0, Clock::now());
  close(fd);
  unlink(path.c_str());
  return back == data;
}

// Runs the Python baseline; parses "write+fsync W MiB/s read R MiB/s".
bool run_python(const std::string& py, testing::DiodServer& diod, size_t size_mib, size_t depth, Rates& out) {
  std::ostringstream cmd;
  cmd << "python3 " << py << " 127.0.0.1 " << diod.port() << " " << diod.dir() << " " << size_mib << " " << depth
      << " 1048576 2>/dev/null";
  FILE* p = popen(cmd.str().c_str(), "r");
  if (!p) return false;
  char line[512] = {0};
  std::string all;
  while (fgets(line, sizeof line, p)) all += line;
  int st = pclose(p);
  double w = 0, r = 0;
  const char* at = std::strstr(all.c_str(), "write+fsync");
  if (st != 0 || !at || std::sscanf(at, "write+fsync %lf MiB/s read %lf MiB/s", &w, &r) != 2) {
    std::fprintf(stderr, "p9_bench: python baseline failed: %s\n", all.c_str());
    return false;
  }
  out = {w, r};
  unlink((diod.dir() + "/p9bench.dat").c_str());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  size_t size_mib = 512;
  std::vector<size_t> depths = {1, 4, 16};
  std::vector<size_t> conns = {1, 2, 4};
  size_t cycles = 2000;
  size_t getattrs = 200000;
  size_t creates = 2000;
  std::string py = NETFS_P9BENCH_PY;
  std::string parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--size-mib") {
      size_mib = std::stoul(v);
    } else if (a == "--depths") {
      depths.clear();
      std::stringstream ss(v);
      for (std::string d; std::getline(ss, d, ',');) depths.push_back(std::stoul(d));
    } else if (a == "--conns") {
      conns.clear();
      std::stringstream ss(v);
      for (std::string d; v != "none" && std::getline(ss, d, ',');) conns.push_back(std::stoul(d));
    } else if (a == "--cycles") {
      cycles = std::stoul(v);
    } else if (a == "--creates") {
      creates = std::stoul(v);
    } else if (a == "--getattrs") {
      getattrs = std::stoul(v);
    } else if (a == "--dir") {
      parent = v;
    } else if (a == "--python") {
      py = v;
    } else {
      std::fprintf(stderr,
                   "usage: p9_bench [--size-mib N] [--depths 1,4,16] [--conns 1,2,4|none] [--cycles N] "
                   "[--getattrs N] [--creates N] [--python PATH|none] [--dir PARENT]\n");
      return 2;
    }
  }
  if (py != "none" && access(py.c_str(), R_OK) != 0) py = "none";

  testing::DiodServer diod(testing::DiodServer::Transport::kTcp, parent);
  if (!diod.start()) {
    std::fprintf(stderr, "p9_bench: %s\n", diod.error().c_str());
    return 1;
  }
  std::vector<std::byte> data(size_mib << 20);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < data.size(); i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(data.data() + i, &x, std::min<size_t>(8, data.size() - i));
  }

  Rates local;
  if (!run_local(diod.dir(), data, local)) {
    std::fprintf(stderr, "p9_bench: local baseline failed\n");
    return 1;
  }
  std::printf("p9_bench: %zu MiB sequential, diod on 127.0.0.1, export %s\n", size_mib, diod.dir().c_str());
  std::printf("local pwrite+fsync %.0f MiB/s, pread %.0f MiB/s (1 MiB calls)\n", local.write, local.read);
  std::printf("engine = perform_write + fsync write-back + Tfsync; buffered_read (1 MiB calls, readahead) on a cold inode\n");
  std::printf("eng.wb = the engine's write-back phase alone (fsync + Tfsync, without the copy into folios)\n");
  std::printf("client = pipelined Twrite (zero-copy) + Tfsync, pipelined Tread, as p9bench.py does\n");
  std::printf("MiB/s; ratios are to local and to python (p9bench.py) at the same depth\n");
  std::printf("%-5s | %7s %7s %7s %7s %7s | %7s %7s %7s %7s | %7s %7s | %6s %6s %6s %6s %6s\n", "depth", "eng.w",
              "eng.wb", "eng.r", "w/loc", "r/loc", "cli.w", "cli.r", "w/loc", "r/loc", "py.w", "py.r", "eng.w", "eng.wb",
              "eng.r", "cli.w", "cli.r");
  std::printf("%-5s | %39s | %31s | %15s | %34s\n", "", "engine", "client", "python", "ours / python");
  for (size_t d : depths) {
    Rates eng, cli, base;
    if (!run_9p(diod, d, data, eng)) return 1;
    if (!run_raw(diod, d, data, cli)) return 1;
    bool have_py = py != "none" && run_python(py, diod, size_mib, d, base);
    std::printf("%-5zu | %7.0f %7.0f %7.0f %6.2fx %6.2fx | %7.0f %7.0f %6.2fx %6.2fx |", d, eng.write, eng.writeback,
                eng.read, eng.write / local.write, eng.read / local.read, cli.write, cli.read, cli.write / local.write,
                cli.read / local.read);
    if (have_py)
      std::printf(" %7.0f %7.0f | %5.2fx %5.2fx %5.2fx %5.2fx %5.2fx\n", base.write, base.read, eng.write / base.write,
                  eng.writeback / base.write, eng.read / base.read, cli.write / base.write, cli.read / base.read);
    else
      std::printf(" (python baseline not run)\n");
    std::fflush(stdout);
  }
  if (!conns.empty()) {
    // Interleaved (depth by depth, each connection count in turn) so that a change in the
    // machine's load hits every column alike.
    std::printf("\nengine path over several connections (ClientOptions::connections; depth = in flight per connection)\n");
    std::printf("%-5s %-5s | %7s %7s %7s\n", "depth", "conns", "eng.w", "eng.wb", "eng.r");
    for (size_t d : depths)
      for (size_t k : conns) {
        Rates eng;
        if (!run_9p(diod, d, data, eng, k)) return 1;
        std::printf("%-5zu %-5zu | %7.0f %7.0f %7.0f\n", d, k, eng.write, eng.writeback, eng.read);
        std::fflush(stdout);
      }
  }
  if (getattrs) {
    std::printf("\nsmall RPCs: %zu pipelined Tgetattrs per depth (client %s)\n", getattrs,
                kHasCallRead<p9::Client> ? "with call_read" : "without call_read");
    std::printf("%-5s | %10s\n", "depth", "RPCs/s");
    for (size_t d : depths) {
      double rate = 0;
      if (!run_getattrs(diod, d, getattrs, rate)) return 1;
      std::printf("%-5zu | %10.0f\n", d, rate);
      std::fflush(stdout);
    }
  }
  if (cycles) {
    std::printf("\ncreate/lookup/open/clunk/clunk/unlink cycles on the Namespace API (%zu each)\n", cycles);
    std::printf("%-22s | %10s %16s\n", "clunk", "us/cycle", "waited RPCs/cycle");
    for (int round = 0; round < 2; round++)
      for (bool sync : {true, false}) {
        Cycles cy;
        if (!run_cycles(diod, cycles, sync, cy)) return 1;
        std::printf("%-22s | %10.1f %16.2f\n", sync ? "synchronous (before)" : "asynchronous (after)", cy.us,
                    cy.round_trips);
        std::fflush(stdout);
      }
  }
  if (creates) {
    std::printf("\n%zu files made in one directory (create, getattr, 4 KiB write, getattr, clunk)\n", creates);
    std::printf("%-26s | %10s %16s %14s\n", "create", "us/file", "waited RPCs/file", "spare missing");
    int run = 0;
    for (int round = 0; round < 2; round++)
      for (bool sync : {true, false}) {
        Creates cr;
        if (!run_creates(diod, creates, sync, std::to_string(run++), cr)) return 1;
        std::printf("%-26s | %10.1f %16.2f %14llu\n", sync ? "clone waited for (before)" : "spare clone (after)", cr.us,
                    cr.round_trips, static_cast<unsigned long long>(sync ? 0 : cr.missed));
        std::fflush(stdout);
      }
  }
  return 0;
}
