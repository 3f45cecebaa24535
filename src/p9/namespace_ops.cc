#include "p9/namespace_ops.h"
#include "p9/lanes.h"

#include <fcntl.h>

#include <atomic>
#include <cstring>
#include <optional>

namespace netfs::p9 {

namespace {

// The connection dropped with the call sent: it may or may not have been carried out.
bool lost_in_flight(const Error& e) { return e.errnum == ECONNRESET && e.context == kLostInFlight; }

// A name the server may be asked to create or look up: one path component.
bool valid_name(std::string_view n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string_view::npos &&
         n.find('\0') == std::string_view::npos && n.size() <= 0xFFFF;
}

// Sends a namespace-changing message without blind replay. When the connection drops
// with it in flight, `resolve` looks at the server: it returns the outcome if the change
// is visible (or impossible), or nullopt to send the message again.
constexpr int kChangeAttempts = 3;
template <class R, class T, class Resolve>
Result<R> change(Client& c, const T& t, Resolve&& resolve) {
  for (int attempt = 0; attempt < kChangeAttempts; attempt++) {
    auto r = c.rpc<R>(t, Replay::kFail);
    if (r.ok() || !lost_in_flight(r.error())) return r;
    std::optional<Result<R>> decided = resolve();
    if (decided) return *decided;
  }
  return make_error(ECONNRESET, "9P: connection kept dropping during a namespace change");
}

}  // namespace

Path Namespace::path_of(uint32_t fid) const {
  auto fi = c_.fids().get(fid);
  return fi ? fi->path : Path{};
}

// ---------------------------------------------------------------- fids

namespace {
// A fid number drawn for a call that did not leave a usable fid: `made` if the server
// created it, else `err` is the call's error. If the server holds (or may hold) the fid,
// only a Tclunk settles the number; otherwise it goes straight back to the pool.
void give_back(Client& c, uint32_t fid, bool made, const Error& err) {
  if (made || may_have_run(err.errnum))
    c.release_fid(fid);
  else
    c.fids().release(fid);  // never created on the server
}
}  // namespace

Result<Entry> Namespace::walk(uint32_t from, const std::vector<std::string>& names) {
  auto base = c_.fids().get(from);
  if (!base) return make_error(EBADF, "9P walk: unknown fid");
  for (const auto& n : names)
    if (n.empty() || n.find('/') != std::string::npos) return make_error(EINVAL, "9P walk: bad name");
  FidTable& ft = c_.fids();
  uint32_t fid = ft.alloc();
  Qid qid = base->qid;
  size_t i = 0;
  uint32_t src = from;
  do {
    size_t n = std::min(kMaxWalkElems, names.size() - i);
    msg::Twalk w{src, fid, {}};
    w.names.v.assign(names.begin() + static_cast<ptrdiff_t>(i), names.begin() + static_cast<ptrdiff_t>(i + n));
    auto r = c_.rpc<msg::Rwalk>(w);
    bool made = src == fid;  // after the first chunk, fid exists on the server
    if (r.ok() && r->qids.v.size() > n) r = make_error(EPROTO, "9P walk: more qids than names");
    if (r.ok() && r->qids.v.size() < n) r = make_error(ENOENT, "9P walk: name not found");
    if (!r.ok()) {
      // A walk that timed out or was cancelled may still have run on the server (its
      // Rwalk can beat our Tflush): the number must not go back to the pool until a
      // Tclunk has settled it, or every later walk would draw it and collide.
      give_back(c_, fid, made, r.error());
      return r.error();
    }
    if (n) qid = r->qids.v.back();
    src = fid;
    i += n;
  } while (i < names.size());
  // from's path as it is now, not as it was before the Twalk (a rename may have moved it
  // meanwhile); if from went away, the path it had when we started is the best we know.
  if (!ft.walked_entry(from, fid, names, qid)) ft.set(fid, FidInfo{join_path(base->path, names), qid, -1, false, true, {}, 0});
  return Entry{fid, qid};
}

Status Namespace::clunk(uint32_t fid) {
  if (fid == root()) return make_error(EINVAL, "9P: the root fid stays");
  drop_spare(fid);
  // Nobody waits for Rclunk: 9P frees the fid on Tclunk whatever the reply says, so the
  // reply carries nothing a caller could act on; only the fid number must wait for it.
  c_.release_fid(fid);
  return ok_status();
}

Result<Opened> Namespace::open(uint32_t fid, uint32_t flags) {
  if (c_.fids().is_stale(fid)) return make_error(ESTALE, "9P: fid lost in a reconnect");
  auto r = c_.rpc<msg::Rlopen>(msg::Tlopen{fid, flags});
  if (!r.ok()) return r.error();
  c_.fids().set_open(fid, flags, r->qid, r->iounit);
  return Opened{r->qid, r->iounit};
}

// ---------------------------------------------------------------- attributes

Result<Attr> Namespace::getattr(uint32_t fid, uint64_t mask) {
  auto r = c_.rpc<msg::Rgetattr>(msg::Tgetattr{fid, mask});
  if (!r.ok()) return r.error();
  return r->attr;
}

Status Namespace::setattr(uint32_t fid, const SetAttr& attr) {
  // Idempotent: the same values set twice leave the same state.
  auto r = c_.rpc<msg::Rsetattr>(msg::Tsetattr{fid, attr});
  if (!r.ok()) return r.error();
  return ok_status();
}

Result<StatFs> Namespace::statfs(uint32_t fid) {
  auto r = c_.rpc<msg::Rstatfs>(msg::Tstatfs{fid});
  if (!r.ok()) return r.error();
  return r->st;
}

Status Namespace::fsync(uint32_t fid, bool datasync) {
  auto r = c_.rpc<msg::Rfsync>(msg::Tfsync{fid, datasync ? 1u : 0u});
  if (!r.ok()) return r.error();
  return ok_status();
}

Result<std::string> Namespace::readlink(uint32_t fid) {
  auto r = c_.rpc<msg::Rreadlink>(msg::Treadlink{fid});
  if (!r.ok()) return r.error();
  return r->target;
}

// ---------------------------------------------------------------- create's spare clones

Namespace::~Namespace() {
  std::vector<uint32_t> ready;
  {
    std::lock_guard lk(spares_->mu);
    spares_->closed = true;  // clones in flight clunk their fid when they land
    for (auto& [dir, slot] : spares_->by_dir)
      if (slot.fid != kNoFid) ready.push_back(slot.fid);
    spares_->by_dir.clear();
  }
  for (uint32_t f : ready) c_.release_fid(f);
}

uint32_t Namespace::take_spare(uint32_t dir) {
  uint32_t fid = kNoFid;
  {
    std::lock_guard lk(spares_->mu);
    auto it = spares_->by_dir.find(dir);
    if (it != spares_->by_dir.end()) std::swap(fid, it->second.fid);
  }
  // A reconnect that could not rebuild the spare leaves it stale: a create on it must not
  // reach whatever the path names now.
  if (fid != kNoFid && c_.fids().is_stale(fid)) {
    c_.release_fid(fid);
    fid = kNoFid;
  }
  return fid;
}

void Namespace::refill_spare(uint32_t dir) {
  uint64_t id;
  {
    std::lock_guard lk(spares_->mu);
    if (spares_->closed) return;
    auto& slot = spares_->by_dir[dir];
    if (slot.fid != kNoFid || slot.pending) return;  // one spare per directory is enough
    id = slot.pending = spares_->next_id++;
    spares_->in_flight++;
  }
  uint32_t fid = c_.fids().alloc();
  auto m = encode(msg::Twalk{dir, fid, {}});
  Client* c = &c_;
  // Runs on the I/O thread: must not block (FidTable and Spares are leaf locks).
  c_.call(std::move(*m), MsgType::kRwalk, Replay::kResend, [c, sp = spares_, dir, fid, id](Result<Reply> r) {
    Result<msg::Rwalk> w = r.ok() ? decode<msg::Rwalk>(r->body) : Result<msg::Rwalk>(r.error());
    if (w.ok() && !w->qids.v.empty()) w = make_error(EPROTO, "9P walk: qids for a clone");
    bool keep = false;
    {
      std::lock_guard lk(sp->mu);
      auto it = sp->by_dir.find(dir);
      // A slot with another id (or none) means dir was clunked meanwhile: the number
      // may be another directory's by now, and this clone is nobody's.
      bool mine = it != sp->by_dir.end() && it->second.pending == id;
      if (mine) it->second.pending = 0;
      // Into the table before it can be taken: a create's Tlcreate needs it recorded,
      // and a reconnect must rebuild it. The clone names what dir names, copied in one
      // step under the FidTable's lock: a rename in between a get(dir) and a set(fid)
      // would leave the spare on the old path, and a reconnect would rebuild it there
      // (a create through it would land in the wrong directory). clone_entry fails if
      // dir is gone or stale. Still under sp->mu (FidTable's lock is a leaf).
      if (mine && w.ok() && c->fids().clone_entry(dir, fid)) {
        it->second.fid = fid;
        keep = true;
      }
      // Not kept (dir gone, the walk failed): the next create starts afresh.
      if (mine && !keep) sp->by_dir.erase(it);
      sp->in_flight--;
    }
    sp->idle.notify_all();
    if (keep) return;
    // Made on the server (or maybe: timed out after sending): a Tclunk settles the number.
    give_back(*c, fid, w.ok(), w.ok() ? Error{} : w.error());
  });
}

void Namespace::drop_spare(uint32_t dir) {
  uint32_t fid = kNoFid;
  {
    std::lock_guard lk(spares_->mu);
    auto it = spares_->by_dir.find(dir);
    if (it == spares_->by_dir.end()) return;
    fid = it->second.fid;
    spares_->by_dir.erase(it);  // a clone in flight finds no slot and clunks its fid
  }
  if (fid != kNoFid) c_.release_fid(fid);
}

bool Namespace::test_wait_spares(std::chrono::milliseconds limit) {
  std::unique_lock lk(spares_->mu);
  return spares_->idle.wait_for(lk, limit, [&] { return spares_->in_flight == 0; });
}

// ---------------------------------------------------------------- namespace changes

Result<Qid> Namespace::probe(uint32_t dir, std::string_view name) {
  auto e = lookup(dir, name);
  if (!e.ok()) return e.error();
  (void)clunk(e->fid);
  return e->qid;
}

Result<Created> Namespace::create(uint32_t dir, std::string_view name, uint32_t flags, uint32_t mode, uint32_t gid) {
  if (!valid_name(name)) return make_error(EINVAL, "9P create: bad name");
  // A directory fid a reconnect could not rebuild may name another directory now.
  if (c_.fids().is_stale(dir)) return make_error(ESTALE, "9P: fid lost in a reconnect");
  // Tlcreate turns its fid into the new file, so it works on a clone of dir: the spare
  // if one is ready, else one made now. Either way the clone for the next create is sent
  // at once, so it travels while this Tlcreate does.
  uint32_t fid = take_spare(dir);
  if (fid == kNoFid) {
    c_.stats().bump(c_.stats().create_spares_missed);
    auto clone = walk(dir, {});
    if (!clone.ok()) return clone.error();
    fid = clone->fid;
  } else {
    c_.stats().bump(c_.stats().create_spares_used);
  }
  refill_spare(dir);
  std::string n(name);
  std::optional<Created> found;
  auto r = change<msg::Rlcreate>(c_, msg::Tlcreate{fid, n, flags, mode, gid}, [&]() -> std::optional<Result<msg::Rlcreate>> {
    auto q = probe(dir, name);
    if (!q.ok() && q.errnum() == ENOENT) return std::nullopt;  // it did not happen: create again
    if (!q.ok()) return q.error();
    // The file is there: ours (or one that won a race, as O_CREAT without O_EXCL allows).
    // Open it by name; O_TRUNC is kept: on a file we just created it changes nothing.
    auto e = lookup(dir, name);
    if (!e.ok()) return e.error();
    auto o = open(e->fid, flags & ~uint32_t(O_CREAT | O_EXCL));
    if (!o.ok()) {
      (void)clunk(e->fid);
      return o.error();
    }
    found = Created{e->fid, o->qid, o->iounit};
    return msg::Rlcreate{o->qid, o->iounit};
  });
  if (found) {
    (void)clunk(fid);
    return *found;
  }
  if (!r.ok()) {
    (void)clunk(fid);
    return r.error();
  }
  Path p = path_of(dir);
  p.push_back(n);
  FidInfo fi{std::move(p), r->qid, static_cast<int64_t>(flags), false, true, {}, r->iounit};
  c_.fids().set(fid, std::move(fi));
  return Created{fid, r->qid, r->iounit};
}

Result<Qid> Namespace::mkdir(uint32_t dir, std::string_view name, uint32_t mode, uint32_t gid) {
  if (!valid_name(name)) return make_error(EINVAL, "9P mkdir: bad name");
  auto r = change<msg::Rmkdir>(c_, msg::Tmkdir{dir, std::string(name), mode, gid},
                               [&]() -> std::optional<Result<msg::Rmkdir>> {
                                 auto q = probe(dir, name);
                                 if (!q.ok() && q.errnum() == ENOENT) return std::nullopt;
                                 if (!q.ok()) return q.error();
                                 if (!(q->type & qid_type::kDir)) return make_error(EEXIST, "9P mkdir");
                                 return msg::Rmkdir{*q};
                               });
  if (!r.ok()) return r.error();
  return r->qid;
}

Result<Qid> Namespace::symlink(uint32_t dir, std::string_view name, std::string_view target, uint32_t gid) {
  if (!valid_name(name)) return make_error(EINVAL, "9P symlink: bad name");
  auto r = change<msg::Rsymlink>(c_, msg::Tsymlink{dir, std::string(name), std::string(target), gid},
                                 [&]() -> std::optional<Result<msg::Rsymlink>> {
                                   auto e = lookup(dir, name);
                                   if (!e.ok() && e.errnum() == ENOENT) return std::nullopt;
                                   if (!e.ok()) return e.error();
                                   auto t = readlink(e->fid);
                                   (void)clunk(e->fid);
                                   // Only a link to our target is the one we made.
                                   if (!t.ok() || *t != target) return make_error(EEXIST, "9P symlink");
                                   return msg::Rsymlink{e->qid};
                                 });
  if (!r.ok()) return r.error();
  return r->qid;
}

Result<Qid> Namespace::mknod(uint32_t dir, std::string_view name, uint32_t mode, uint32_t major, uint32_t minor,
                             uint32_t gid) {
  if (!valid_name(name)) return make_error(EINVAL, "9P mknod: bad name");
  auto r = change<msg::Rmknod>(c_, msg::Tmknod{dir, std::string(name), mode, major, minor, gid},
                               [&]() -> std::optional<Result<msg::Rmknod>> {
                                 auto q = probe(dir, name);
                                 if (!q.ok() && q.errnum() == ENOENT) return std::nullopt;
                                 if (!q.ok()) return q.error();
                                 return msg::Rmknod{*q};
                               });
  if (!r.ok()) return r.error();
  return r->qid;
}

Status Namespace::link(uint32_t dir, uint32_t target, std::string_view name) {
  if (!valid_name(name)) return make_error(EINVAL, "9P link: bad name");
  auto ti = c_.fids().get(target);
  if (!ti) return make_error(EBADF, "9P link: unknown fid");
  auto r = change<msg::Rlink>(c_, msg::Tlink{dir, target, std::string(name)}, [&]() -> std::optional<Result<msg::Rlink>> {
    auto q = probe(dir, name);
    if (!q.ok() && q.errnum() == ENOENT) return std::nullopt;
    if (!q.ok()) return q.error();
    // The name is ours exactly when it names the target file.
    if (q->path != ti->qid.path) return make_error(EEXIST, "9P link");
    return msg::Rlink{};
  });
  if (!r.ok()) return r.error();
  return ok_status();
}

Status Namespace::remove_name(uint32_t dir, std::string_view name, bool want_dir) {
  if (!valid_name(name)) return make_error(EINVAL, "9P unlink: bad name");
  auto resolve = [&]() -> std::optional<Result<msg::Runlinkat>> {
    auto q = probe(dir, name);
    if (q.ok()) return std::nullopt;  // still there: remove again
    if (q.errnum() == ENOENT) return msg::Runlinkat{};
    return q.error();
  };
  if (!no_unlinkat_.load(std::memory_order_relaxed)) {
    auto r = change<msg::Runlinkat>(c_, msg::Tunlinkat{dir, std::string(name), want_dir ? kAtRemoveDir : 0}, resolve);
    if (r.ok()) return ok_status();
    if (r.errnum() != EOPNOTSUPP) return r.error();
    no_unlinkat_.store(true, std::memory_order_relaxed);  // diod 1.0.24 has no Tunlinkat
  }
  // Tremove on a fid walked to the name; the server clunks the fid whatever happens.
  for (int attempt = 0; attempt < kChangeAttempts; attempt++) {
    auto e = lookup(dir, name);
    if (!e.ok()) return attempt && e.errnum() == ENOENT ? ok_status() : Status(e.error());
    bool is_dir = e->qid.type & qid_type::kDir;
    if (is_dir != want_dir) {
      (void)clunk(e->fid);
      return make_error(want_dir ? ENOTDIR : EISDIR, "9P remove");
    }
    // Out of the table before it is sent, so a reconnect does not rebuild a fid that
    // Tremove may have freed (as with a clunk).
    c_.fids().erase(e->fid);
    auto r = c_.rpc<msg::Rremove>(msg::Tremove{e->fid}, Replay::kFail);
    if (r.ok()) {
      c_.fids().release(e->fid);  // Rremove: the server freed the fid
      return ok_status();
    }
    // Unknown whether the server still holds it (a lost reply, a session rebuilt from an
    // earlier snapshot): an asynchronous clunk settles it either way.
    c_.release_fid(e->fid);
    if (!lost_in_flight(r.error())) return r.error();
    auto d = resolve();
    if (d) return d->ok() ? ok_status() : Status(d->error());
  }
  return make_error(ECONNRESET, "9P: connection kept dropping during a namespace change");
}

Status Namespace::unlink(uint32_t dir, std::string_view name) { return remove_name(dir, name, false); }

Status Namespace::rmdir(uint32_t dir, std::string_view name) { return remove_name(dir, name, true); }

Status Namespace::rename(uint32_t olddir, std::string_view oldname, uint32_t newdir, std::string_view newname) {
  if (!valid_name(oldname) || !valid_name(newname)) return make_error(EINVAL, "9P rename: bad name");
  // The source's identity, so that after a lost reply "the new name is our file" can be told.
  auto src = probe(olddir, oldname);
  if (!src.ok()) return src.error();
  auto resolve = [&]() -> std::optional<Result<msg::Rrenameat>> {
    auto now_old = probe(olddir, oldname);
    auto now_new = probe(newdir, newname);
    if (now_new.ok() && now_new->path == src->path && !(now_old.ok() && now_old->path == src->path))
      return msg::Rrenameat{};
    if (now_old.ok() && now_old->path == src->path) return std::nullopt;  // not done yet
    return make_error(ENOENT, "9P rename: source vanished");
  };
  Status st = ok_status();
  if (!no_renameat_.load(std::memory_order_relaxed)) {
    auto r = change<msg::Rrenameat>(c_, msg::Trenameat{olddir, std::string(oldname), newdir, std::string(newname)},
                                    resolve);
    if (!r.ok()) st = r.error();
    if (r.errnum() == EOPNOTSUPP) no_renameat_.store(true, std::memory_order_relaxed);  // diod 1.0.24
  }
  if (no_renameat_.load(std::memory_order_relaxed)) {
    // Trename moves the file a fid names: walk to it first.
    auto e = lookup(olddir, oldname);
    if (!e.ok()) return e.error();
    auto r = change<msg::Rrename>(c_, msg::Trename{e->fid, newdir, std::string(newname)},
                                  [&]() -> std::optional<Result<msg::Rrename>> {
                                    auto d = resolve();
                                    if (!d) return std::nullopt;
                                    if (!d->ok()) return d->error();
                                    return msg::Rrename{};
                                  });
    (void)clunk(e->fid);
    st = r.ok() ? ok_status() : Status(r.error());
  }
  if (!st.ok()) return st;
  Path from = path_of(olddir), to = path_of(newdir);
  from.emplace_back(oldname);
  to.emplace_back(newname);
  c_.fids().rename(from, to);
  if (Lanes* l = c_.lanes()) l->rename(from, to);  // lane fids are rebuilt by path too
  return ok_status();
}

// ---------------------------------------------------------------- directories

Result<std::vector<Dirent>> Namespace::readdir(uint32_t fid, uint64_t offset, uint32_t count) {
  uint32_t max = static_cast<uint32_t>(c_.max_io());
  if (count == 0 || count > max) count = max;
  auto r = c_.rpc<msg::Rreaddir>(msg::Treaddir{fid, offset, count});
  if (!r.ok()) return r.error();
  size_t bytes = 0;
  for (const auto& e : r->entries.v) bytes += kQidSize + 8 + 1 + 2 + e.name.size();
  if (bytes > count) return make_error(EPROTO, "9P readdir: more bytes than asked for");
  return std::move(r->entries.v);
}

Result<std::vector<Dirent>> Namespace::readdir_all(uint32_t dir) {
  auto e = walk(dir, {});
  if (!e.ok()) return e.error();
  std::vector<Dirent> all;
  auto o = open(e->fid, O_RDONLY | O_DIRECTORY);
  Status st = o.ok() ? ok_status() : Status(o.error());
  uint64_t off = 0;
  while (st.ok()) {
    auto part = readdir(e->fid, off);
    if (!part.ok()) {
      st = part.error();
      break;
    }
    if (part->empty()) break;
    off = part->back().offset;
    for (auto& d : *part) all.push_back(std::move(d));
  }
  (void)clunk(e->fid);
  if (!st.ok()) return st.error();
  return all;
}

// ---------------------------------------------------------------- xattrs

Result<Bytes> Namespace::read_xattr_fid(uint32_t fid, uint64_t size) {
  // Linux caps a value at 64 KiB; a server claiming far more is not believed.
  if (size > (1u << 24)) return make_error(E2BIG, "9P xattr: value too large");
  Bytes v(size);
  size_t got = 0;
  while (got < size) {
    auto n = read(fid, got, v.data() + got, size - got);
    if (!n.ok()) return n.error();
    if (*n == 0) break;
    got += *n;
  }
  v.resize(got);
  return v;
}

Result<Bytes> Namespace::getxattr(uint32_t fid, std::string_view name) {
  for (int attempt = 0;; attempt++) {
    uint32_t xf = c_.fids().alloc();
    auto w = c_.rpc<msg::Rxattrwalk>(msg::Txattrwalk{fid, xf, std::string(name)}, Replay::kFail);
    if (!w.ok()) {
      give_back(c_, xf, false, w.error());  // see walk()
      if (lost_in_flight(w.error()) && attempt == 0) continue;
      return w.error();
    }
    // An xattr fid names server state that a reconnect cannot rebuild.
    c_.fids().set(xf, FidInfo{{}, {}, -1, false, false, {}, 0});
    auto v = read_xattr_fid(xf, w->size);
    (void)clunk(xf);
    return v;
  }
}

Result<std::vector<std::string>> Namespace::listxattr(uint32_t fid) {
  auto v = getxattr(fid, "");
  if (!v.ok()) return v.error();
  std::vector<std::string> names;
  std::string cur;
  for (std::byte b : *v) {
    if (b == std::byte{0}) {
      if (!cur.empty()) names.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(b));
    }
  }
  if (!cur.empty()) names.push_back(std::move(cur));
  return names;
}

Status Namespace::setxattr(uint32_t fid, std::string_view name, ByteSpan value, uint32_t flags) {
  for (int attempt = 0;; attempt++) {
    auto xf = walk(fid, {});
    if (!xf.ok()) return xf.error();
    c_.fids().set(xf->fid, FidInfo{{}, {}, -1, false, false, {}, 0});
    auto r = c_.rpc<msg::Rxattrcreate>(msg::Txattrcreate{xf->fid, std::string(name), value.size(), flags}, Replay::kFail);
    Status st = r.ok() ? ok_status() : Status(r.error());
    if (st.ok() && !value.empty()) {
      auto n = write(xf->fid, 0, value.data(), value.size());
      if (!n.ok()) st = n.error();
    }
    // The value is set when the fid is clunked: its reply is the outcome.
    auto c = c_.rpc<msg::Rclunk>(msg::Tclunk{xf->fid}, Replay::kFail);
    c_.fids().release(xf->fid);
    if (st.ok() && !c.ok()) st = c.error();
    // Setting a value is idempotent: on a lost connection, set it again once.
    if (!st.ok() && lost_in_flight(st.error()) && attempt == 0) continue;
    return st;
  }
}

Status Namespace::removexattr(uint32_t fid, std::string_view name) {
  // 9P2000.L has no Tremovexattr: Linux sends an xattrcreate of size 0, which the server
  // turns into a removal when the fid is clunked.
  return setxattr(fid, name, {}, 0);
}

// ---------------------------------------------------------------- locks

Result<uint8_t> Namespace::lock(uint32_t fid, const Lock& l, uint32_t flags) {
  msg::Tlock t{fid, l.type, flags, l.start, l.length, l.proc_id, l.client_id};
  auto r = c_.rpc<msg::Rlock>(t, Replay::kFail);
  // Locks of a lost session died with it, so asking again on the new one is the answer.
  if (!r.ok() && lost_in_flight(r.error())) r = c_.rpc<msg::Rlock>(t, Replay::kFail);
  if (!r.ok()) return r.error();
  if (r->status == lock_status::kSuccess) c_.fids().record_lock(fid, l);
  return r->status;
}

Result<Lock> Namespace::getlock(uint32_t fid, const Lock& l) {
  auto r = c_.rpc<msg::Rgetlock>(msg::Tgetlock{fid, l.type, l.start, l.length, l.proc_id, l.client_id});
  if (!r.ok()) return r.error();
  return Lock{r->type, r->start, r->length, r->proc_id, r->client_id};
}

// ---------------------------------------------------------------- data

Result<size_t> Namespace::read(uint32_t fid, uint64_t offset, void* buf, size_t n) {
  if (c_.fids().is_stale(fid)) return make_error(ESTALE, "9P: fid lost in a reconnect");
  auto* p = static_cast<std::byte*>(buf);
  size_t done = 0;
  while (done < n) {
    uint32_t want = static_cast<uint32_t>(std::min(n - done, c_.max_read()));
    auto m = encode(msg::Tread{fid, offset + done, want});
    auto body = c_.call_sync(std::move(*m), MsgType::kRread, Replay::kResend);
    if (!body.ok()) return done ? Result<size_t>(done) : body.error();
    auto r = decode<msg::Rread>(*body);
    if (!r.ok()) return r.error();
    if (r->data.v.size() > want) return make_error(EPROTO, "9P read: more data than asked for");
    std::memcpy(p + done, r->data.v.data(), r->data.v.size());
    done += r->data.v.size();
    if (r->data.v.empty()) break;  // end of file
  }
  return done;
}

Result<size_t> Namespace::write(uint32_t fid, uint64_t offset, const void* buf, size_t n) {
  if (c_.fids().is_stale(fid)) return make_error(ESTALE, "9P: fid lost in a reconnect");
  const auto* p = static_cast<const std::byte*>(buf);
  size_t done = 0;
  while (done < n) {
    uint32_t want = static_cast<uint32_t>(std::min(n - done, c_.max_write()));
    Bytes m = encode_twrite(fid, offset + done, want, [&](std::byte* dst) { std::memcpy(dst, p + done, want); });
    auto body = c_.call_sync(std::move(m), MsgType::kRwrite, Replay::kResend);
    if (!body.ok()) return done ? Result<size_t>(done) : body.error();
    auto r = decode<msg::Rwrite>(*body);
    if (!r.ok()) return r.error();
    if (r->count > want) return make_error(EPROTO, "9P write: server claims more than was sent");
    if (r->count == 0) return done ? Result<size_t>(done) : make_error(EIO, "9P write: server wrote nothing");
    done += r->count;
  }
  return done;
}

}  // namespace netfs::p9
