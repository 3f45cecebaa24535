// Backend: the 9P implementation of netfs::RequestOps, the engine's data path to the
// server. Each subrequest becomes one Tread or Twrite carrying as many bytes as the
// negotiated msize allows (prepare_* limits a subrequest to exactly that), and the
// engine keeps many of them in flight on the client's pipelined connection.
//
// Inode::backend_id() is the fid the engine's I/O uses: an open fid (O_RDWR, or the
// mode the file allows) that the filesystem layer obtained with Namespace::open or
// create and keeps until the inode goes away.
//
// Several connections (ClientOptions::connections > 1): each RPC goes to the next
// connection in turn (Lanes::route), on the file's fid there; a lane where the file is
// not open yet, or whose fid went stale, yields the main connection. A lane's answer that
// is an error the engine would not retry is not trusted (its fid may have gone stale
// since): that piece is sent again on the main connection, whose answer stands.
//
// Reconnect: data RPCs are sent with Replay::kFail, so a connection loss completes them
// with ECONNRESET; the engine retries them (prepare_* first, which picks up a changed
// msize), and the client holds the retries until the session and its fids are rebuilt.
// A fid that could not be rebuilt fails with ESTALE, which is not retried.
//
// Threading: issue_* may be called from any engine thread; completions run on the
// client's I/O thread and call Subrequest::terminated() there.
#pragma once

#include <functional>

#include "netfs/request.h"
#include "netfs/request_ops.h"
#include "p9/client.h"
#include "p9/lanes.h"

namespace netfs::p9 {

class Backend : public RequestOps {
 public:
  explicit Backend(Client& client) : c_(client) {}

  void prepare_write(Subrequest& sreq) override;
  void issue_write(Subrequest& sreq) override;
  void prepare_read(Subrequest& sreq) override;
  void issue_read(Subrequest& sreq) override;
  Status set_size(Inode& inode, uint64_t size) override;

 private:
  // Which connection, and which fid on it, carries an RPC.
  struct Route {
    Client* client;
    uint32_t fid;
    std::shared_ptr<const Lanes::File> file;  // with lanes: asked before a main fallback
  };
  // Runs send with the connection for sreq's next RPC: at once, or once the file is open
  // on the lane its turn fell to (Lanes::route). A file closed meanwhile terminates sreq
  // with ESTALE instead.
  void route(Subrequest& sreq, std::function<void(Route)> send);
  // One RPC for the next piece of sreq over `rt`; `done` bytes already moved by this
  // issue (only a write_single / read_single issue needs more than one RPC).
  void write_piece(Subrequest& sreq, size_t done, Route rt);
  void read_piece(Subrequest& sreq, size_t done, Route rt);
  // A lane's error that the engine would not retry: to be asked again on the main fid.
  bool ask_main(const Route& rt, int err) const { return rt.client != &c_ && !is_retryable(err); }
  // The main fid for that second ask; a file forgotten since it was routed has none any
  // more (the number may be another file's by now): then sreq ends with ESTALE.
  void main_again(Subrequest& sreq, size_t done, const Route& rt, bool write);
  // Bytes one RPC of this subrequest's file may carry: msize - 24, or the iounit.
  size_t rpc_size(const Subrequest& sreq) const;

  Client& c_;
};

}  // namespace netfs::p9
