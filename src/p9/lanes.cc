#include "p9/lanes.h"

#include <fcntl.h>

#include <algorithm>
#include <utility>

#include "p9/codec.h"

namespace netfs::p9 {

// One asynchronous walk + open of a main fid's file on one lane. Shared by the
// completions of its chain; finish() records the outcome.
struct Lanes::Open {
  std::shared_ptr<File> file;
  size_t lane = 0;
  Client* c = nullptr;
  uint32_t main_fid = kNoFid;
  uint32_t fid = kNoFid;  // on the lane
  Path path;
  uint64_t want = 0;      // the main fid's qid.path: the lane fid must name that file
  uint32_t flags = 0;     // the main fid's open flags, as recorded for rebuilds
  size_t walked = 0;      // names walked so far
  bool made = false;      // the fid exists on the lane's server (a walk succeeded)
  Qid qid;
};

Result<std::unique_ptr<Lanes>> Lanes::connect(const ClientOptions& main_opts, FidTable& main_fids, size_t extra) {
  ClientOptions o = main_opts;
  o.connections = 1;
  std::vector<std::unique_ptr<Client>> cs;
  for (size_t i = 0; i < extra; i++) {
    auto c = Client::connect(o);
    if (!c.ok()) return c.error();
    cs.push_back(std::move(*c));
  }
  return std::unique_ptr<Lanes>(new Lanes(main_fids, std::move(cs)));
}

Lanes::Lanes(FidTable& main_fids, std::vector<std::unique_ptr<Client>> clients)
    : main_fids_(main_fids), clients_(std::move(clients)) {}

Lanes::~Lanes() {
  // One by one, leaving clients_ itself intact: a lane's destructor runs the completions
  // of open chains still in flight (ESHUTDOWN), which reach finish() and this object.
  for (auto& c : clients_) c.reset();
}

void Lanes::close() {
  // clients_ stays intact: route() and forget() read it from other threads meanwhile.
  for (auto& c : clients_) c->close();
}

size_t Lanes::max_io() const {
  size_t n = SIZE_MAX;
  for (const auto& c : clients_) n = std::min(n, c->max_io());
  return n;
}

bool Lanes::closed(const std::shared_ptr<const File>& file) {
  return file && file->forgotten.load(std::memory_order_acquire);
}

namespace {
Error closed_error() { return make_error(ESTALE, "9P: file closed with I/O in flight"); }
}  // namespace

void Lanes::route(uint32_t fid, Send send) {
  size_t slot = next_.fetch_add(1, std::memory_order_relaxed) % (clients_.size() + 1);
  if (slot == 0) {
    // The main connection needs no lane state, but a forgotten fid's number may already
    // be another file's (see below).
    if (!main_fids_.contains(fid)) return send(closed_error());
    return send(Target{nullptr, fid, nullptr});
  }
  size_t lane = slot - 1;
  St st = St::kFailed;
  std::shared_ptr<File> start, file;
  uint32_t lfid = kNoFid;
  {
    std::lock_guard lk(mu_);
    auto it = files_.find(fid);
    // Client::release_fid takes the fid out of the main table before forget(): a fid not
    // there was forgotten (or never made), and an entry made now would never be removed.
    // Checked under mu_, so forget() cannot slip in between.
    if (it == files_.end() && main_fids_.contains(fid)) {
      it = files_.emplace(fid, std::make_shared<File>()).first;
      it->second->lanes.resize(clients_.size());
    }
    if (it != files_.end()) {
      file = it->second;
      LaneFid& lf = file->lanes[lane];
      st = lf.st;
      if (st == St::kNone) {
        lf.st = St::kOpening;
        start = file;
      }
      if (st == St::kNone || st == St::kOpening) lf.parked.push_back(std::move(send));
      lfid = lf.fid;
    }
  }
  if (!file) return send(closed_error());
  switch (st) {
    case St::kNone:
      return start_open(std::move(start), lane, fid);
    case St::kOpening:
      return;  // finish() sends it
    case St::kFailed:
      return send(Target{nullptr, fid, file});
    case St::kOpen:
      break;
  }
  // A lane fid its lane's reconnect could not rebuild: the main fid still serves.
  Client* c = clients_[lane].get();
  if (c->fids().is_stale(lfid)) return send(Target{nullptr, fid, file});
  send(Target{c, lfid, file});
}

void Lanes::start_open(std::shared_ptr<File> file, size_t lane, uint32_t main_fid) {
  auto op = std::make_shared<Open>();
  op->file = std::move(file);
  op->lane = lane;
  op->c = clients_[lane].get();
  op->main_fid = main_fid;
  auto fi = main_fids_.get(main_fid);
  // Only an open, healthy main fid has a file to open here as well.
  if (!fi || fi->stale || !fi->rebuildable || fi->open_flags < 0) return finish(op, false);
  auto root = op->c->fids().get(FidTable::kRootFid);
  if (!root) return finish(op, false);
  op->path = fi->path;
  op->want = fi->qid.path;
  op->flags = static_cast<uint32_t>(fi->open_flags);
  op->qid = root->qid;
  op->fid = op->c->fids().alloc();
  walk_next(std::move(op));
}

void Lanes::walk_next(std::shared_ptr<Open> op) {
  size_t n = std::min(kMaxWalkElems, op->path.size() - op->walked);
  msg::Twalk w{op->made ? op->fid : FidTable::kRootFid, op->fid, {}};
  auto from = op->path.begin() + static_cast<ptrdiff_t>(op->walked);
  w.names.v.assign(from, from + static_cast<ptrdiff_t>(n));
  auto m = encode(w);
  if (!m.ok()) return finish(op, false);
  Client* c = op->c;
  c->call(std::move(*m), MsgType::kRwalk, Replay::kResend, [this, op = std::move(op), n](Result<Reply> r) {
    Result<msg::Rwalk> w = r.ok() ? decode<msg::Rwalk>(r->body) : Result<msg::Rwalk>(r.error());
    if (!w.ok() || w->qids.v.size() != n) return finish(op, false);  // a partial walk makes no fid
    op->made = true;
    if (n) op->qid = w->qids.v.back();
    op->walked += n;
    if (op->walked < op->path.size()) return walk_next(op);
    send_open(op);
  });
}

void Lanes::send_open(std::shared_ptr<Open> op) {
  // The name may now be another file (removed and created again): only the same qid.path
  // is the file the main fid has open.
  if (op->qid.path != op->want) return finish(op, false);
  FidInfo fi;
  fi.path = op->path;
  fi.qid = op->qid;
  op->c->fids().set(op->fid, std::move(fi));  // from here a lane reconnect rebuilds it
  // Opening again must never truncate or create (as in a reconnect's re-open).
  uint32_t flags = op->flags & ~uint32_t(O_CREAT | O_EXCL | O_TRUNC);
  auto m = encode(msg::Tlopen{op->fid, flags});
  Client* c = op->c;
  c->call(std::move(*m), MsgType::kRlopen, Replay::kResend, [this, op = std::move(op)](Result<Reply> r) {
    Result<msg::Rlopen> o = r.ok() ? decode<msg::Rlopen>(r->body) : Result<msg::Rlopen>(r.error());
    if (!o.ok()) return finish(op, false);
    op->c->fids().set_open(op->fid, op->flags, o->qid, o->iounit);
    finish(op, true);
  });
}

void Lanes::finish(const std::shared_ptr<Open>& op, bool ok) {
  bool gone, drop;
  std::vector<Send> parked;
  {
    std::lock_guard lk(mu_);
    gone = op->file->forgotten.load(std::memory_order_relaxed);
    drop = !ok || gone;
    LaneFid& lf = op->file->lanes[op->lane];
    // A forgotten File is no longer in files_; its state is read by nobody.
    lf.st = drop ? St::kFailed : St::kOpen;
    lf.fid = drop ? kNoFid : op->fid;
    parked.swap(lf.parked);
  }
  // Parked RPCs of a file forgotten meanwhile (clunked with I/O in flight) fail: the main
  // fid's number may already name another file (asynchronous clunk), so the main
  // connection is no fallback for them. Those of a failed open go there: the file is
  // still open as the main fid.
  for (Send& send : parked) {
    if (gone)
      send(closed_error());
    else if (drop)
      send(Target{nullptr, op->main_fid, op->file});
    else
      send(Target{op->c, op->fid, op->file});
  }
  if (!drop || op->fid == kNoFid) return;
  if (op->made)
    op->c->release_fid(op->fid);  // exists on the lane's server: clunk it
  else
    op->c->fids().release(op->fid);  // never made: the number alone goes back
}

void Lanes::forget(uint32_t fid) {
  std::vector<std::pair<size_t, uint32_t>> open;  // (lane, lane fid)
  {
    std::lock_guard lk(mu_);
    auto it = files_.find(fid);
    if (it == files_.end()) return;
    // Open chains in flight clunk what they make; parked and later fallbacks fail.
    it->second->forgotten.store(true, std::memory_order_release);
    const auto& lanes = it->second->lanes;
    for (size_t i = 0; i < lanes.size(); i++)
      if (lanes[i].st == St::kOpen) open.emplace_back(i, lanes[i].fid);
    files_.erase(it);
  }
  for (auto [lane, lfid] : open) clients_[lane]->release_fid(lfid);
}

size_t Lanes::test_files() {
  std::lock_guard lk(mu_);
  return files_.size();
}

void Lanes::rename(const Path& from, const Path& to) {
  for (auto& c : clients_) c->fids().rename(from, to);
}

}  // namespace netfs::p9
