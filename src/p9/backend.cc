#include "p9/backend.h"

#include "netfs/inode.h"
#include "p9/codec.h"
#include "p9/lanes.h"

namespace netfs::p9 {

namespace {

uint32_t fid_of(const Subrequest& sreq) { return static_cast<uint32_t>(sreq.request().inode().backend_id()); }

// *_single requests must move their whole length in one issue (the engine never splits
// them), so the backend chains RPCs; every other subrequest is one RPC.
bool is_single(const Subrequest& sreq) {
  Origin o = sreq.request().origin();
  return o == Origin::kWriteSingle || o == Origin::kReadSingle;
}

}  // namespace

void Backend::route(Subrequest& sreq, std::function<void(Route)> send) {
  uint32_t fid = fid_of(sreq);
  Lanes* l = c_.lanes();
  if (!l) return send({&c_, fid, nullptr});
  l->route(fid, [this, &sreq, send = std::move(send)](Result<Lanes::Target> t) {
    if (!t.ok()) return sreq.terminated(-int64_t(t.errnum()));
    send(Route{t->client ? t->client : &c_, t->fid, std::move(t->file)});
  });
}

void Backend::main_again(Subrequest& sreq, size_t done, const Route& rt, bool write) {
  if (Lanes::closed(rt.file)) return sreq.terminated(done ? int64_t(done) : -int64_t(ESTALE));
  Route m{&c_, fid_of(sreq), rt.file};
  write ? write_piece(sreq, done, m) : read_piece(sreq, done, m);
}

size_t Backend::rpc_size(const Subrequest& sreq) const {
  // A server may ask for smaller I/O on a file than msize allows (Rlopen's iounit); and
  // any connection may carry the RPC, so the smallest msize among them counts.
  size_t n = c_.max_io();
  if (Lanes* l = c_.lanes()) n = std::min(n, l->max_io());
  uint32_t iounit = c_.fids().iounit(fid_of(sreq));
  return iounit && iounit < n ? iounit : n;
}

void Backend::prepare_write(Subrequest& sreq) {
  sreq.set_max_len(rpc_size(sreq));  // segments go out as they are: no segment limit
}

void Backend::prepare_read(Subrequest& sreq) { sreq.set_max_len(rpc_size(sreq)); }

void Backend::issue_write(Subrequest& sreq) {
  if (c_.fids().is_stale(fid_of(sreq))) return sreq.terminated(-ESTALE);
  route(sreq, [this, &sreq](Route rt) { write_piece(sreq, 0, rt); });
}

void Backend::write_piece(Subrequest& sreq, size_t done, Route rt) {
  IoIter it = sreq.io();
  it.advance(done);
  size_t rest = it.count();
  auto n = static_cast<uint32_t>(std::min(rest, rpc_size(sreq)));
  uint64_t pos = sreq.start() + sreq.transferred() + done;
  // Zero-copy: the folios stay pinned (under writeback) until terminated() is called.
  it.truncate(n);
  std::vector<iovec> segs;
  it.segments(segs);
  rt.client->call(encode_twrite_header(rt.fid, pos, n), std::move(segs), MsgType::kRwrite, Replay::kFail,
                  [this, &sreq, done, n, rt](Result<Reply> r) {
    if (!r.ok() && ask_main(rt, r.errnum())) return main_again(sreq, done, rt, true);
    if (!r.ok()) return sreq.terminated(done ? int64_t(done) : -int64_t(r.errnum()));
    auto w = decode<msg::Rwrite>(r->body);
    if (!w.ok() || w->count > n) return sreq.terminated(done ? int64_t(done) : -int64_t(EPROTO));
    size_t total = done + w->count;
    if (is_single(sreq) && w->count == n && total < sreq.len() - sreq.transferred())
      return write_piece(sreq, total, rt);
    sreq.terminated(int64_t(total));
  });
}

void Backend::issue_read(Subrequest& sreq) {
  if (c_.fids().is_stale(fid_of(sreq))) return sreq.terminated(-ESTALE);
  route(sreq, [this, &sreq](Route rt) { read_piece(sreq, 0, rt); });
}

void Backend::read_piece(Subrequest& sreq, size_t done, Route rt) {
  IoIter it = sreq.io();
  it.advance(done);
  auto n = static_cast<uint32_t>(std::min(it.count(), rpc_size(sreq)));
  uint64_t pos = sreq.start() + sreq.transferred() + done;
  auto m = encode(msg::Tread{rt.fid, pos, n});
  // Zero-copy: the Rread data is received straight into the folios, which stay pinned
  // (locked, referenced by the request) until terminated() is called, and the client
  // writes into them only before this completion runs (Client::call_read).
  it.truncate(n);
  std::vector<iovec> dest;
  it.segments(dest);
  rt.client->call_read(std::move(*m), std::move(dest), Replay::kFail, [this, &sreq, done, n, rt](Result<Reply> r) {
    if (!r.ok() && ask_main(rt, r.errnum())) return main_again(sreq, done, rt, false);
    if (!r.ok()) return sreq.terminated(done ? int64_t(done) : -int64_t(r.errnum()));
    size_t got = r->data_len;  // the client refused more than the destination (n bytes)
    size_t total = done + got;
    if (got < n) sreq.set_hit_eof();
    if (is_single(sreq) && got == n && total < sreq.len() - sreq.transferred())
      return read_piece(sreq, total, rt);
    sreq.terminated(int64_t(total));
  });
}

Status Backend::set_size(Inode& inode, uint64_t size) {
  SetAttr a;
  a.valid = setattr_mask::kSize;
  a.size = size;
  auto r = c_.rpc<msg::Rsetattr>(msg::Tsetattr{static_cast<uint32_t>(inode.backend_id()), a});
  if (!r.ok()) return r.error();
  return ok_status();
}

}  // namespace netfs::p9
