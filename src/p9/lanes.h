// Lanes: the extra connections of a Client opened with ClientOptions::connections > 1,
// and the fids that open files have on them. p9::Backend spreads its data RPCs (Tread,
// Twrite) over the main connection and these; everything else stays on the main one.
//
// Each lane is a whole Client (connections = 1) with its own attach, FidTable, tags and
// reconnect: 9P fids belong to a connection, so a file open on the main connection as
// fid F has, on lane k, a fid of its own, opened lazily. The first data RPC routed to
// lane k for F starts an asynchronous Twalk (from the lane's root along F's remembered
// path) and Tlopen (F's flags minus O_CREAT|O_EXCL|O_TRUNC, so opening again never
// truncates). RPCs routed to the lane meanwhile are parked, not sent over the main
// connection: write-back issues a whole burst in less time than the open takes, and
// would otherwise all go over one connection. When the open is answered they are sent on
// the lane; if it fails or names a different file (another qid.path), on the main
// connection, as are all of F's later RPCs for that lane.
// A lane fid is recorded in its lane's FidTable, so that lane's reconnect rebuilds it;
// one it could not rebuild is stale, and routing falls back to the main connection.
// forget(F) (from Client::release_fid, i.e. Namespace::clunk) clunks F's lane fids
// without waiting; rename() keeps their remembered paths in step with the main table.
//
// A file forgotten with RPCs of it still parked or under way: those RPCs fail with ESTALE
// (not retried by the engine) instead of falling back to the main connection. The main
// fid's Tclunk is already sent and its number goes back to the pool on Rclunk, so it may
// name another file by then: a Tread/Twrite on it would act on that file. route() for a
// fid no longer in the main table fails the same way (and makes no entry: nothing would
// remove it).
//
// Threading: thread-safe (one mutex, never held while calling a Client; it nests only
// the main FidTable's leaf lock).
// Completions of the open chain run on lane I/O threads.
#pragma once

#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "p9/client.h"

namespace netfs::p9 {

class Lanes {
 public:
  // Connects `extra` more clients with main's options (the main client's FidTable is
  // where paths and flags of its fids are read).
  static Result<std::unique_ptr<Lanes>> connect(const ClientOptions& main_opts, FidTable& main_fids, size_t extra);
  ~Lanes();  // the lane clients go first: their completions still use the fid map
  // Closes every lane client (Client::close: pending calls fail with ESHUTDOWN, threads
  // joined). The object stays usable: routes to a closed lane fail with ESHUTDOWN.
  // Called by the main Client's close(); not concurrently with itself.
  void close();
  Lanes(const Lanes&) = delete;
  Lanes& operator=(const Lanes&) = delete;

  size_t size() const { return clients_.size(); }
  Client& client(size_t i) { return *clients_[i]; }

  struct File;
  // Where one RPC goes: over `client` (null: the main connection, with the main fid) on
  // fid. `file` is the routed file's lane state (null when routed to the main connection
  // without it): a fallback to the main connection later asks closed(file) first.
  struct Target {
    Client* client = nullptr;
    uint32_t fid = kNoFid;
    std::shared_ptr<const File> file;
  };
  // Sends one RPC, or fails it (ESTALE: the file was forgotten meanwhile).
  using Send = std::function<void(Result<Target>)>;
  // The file was forgotten since it was routed: its main fid number may name another file.
  static bool closed(const std::shared_ptr<const File>& file);
  // Picks the connection for one data RPC of main fid `fid`, round robin over the main
  // connection and every lane, and runs send for it: at once, or (the file is being opened
  // on that lane) when the open is answered, on a lane I/O thread. A lane where the file
  // cannot be open, or whose fid went stale, yields the main connection.
  void route(uint32_t fid, Send send);
  // The file behind main fid `fid` is closed: clunk its lane fids (without waiting), and
  // any still being opened as soon as their open completes.
  void forget(uint32_t fid);
  // Every lane fid whose path is at or below `from` now lives under `to`.
  void rename(const Path& from, const Path& to);
  // Test hook: main fids with lane state.
  size_t test_files();
  // The smallest max_io() among the lanes (their msize may differ after a reconnect).
  size_t max_io() const;

  enum class St : uint8_t { kNone, kOpening, kOpen, kFailed };
  struct LaneFid {
    St st = St::kNone;
    uint32_t fid = kNoFid;
    std::vector<Send> parked;  // kOpening: RPCs waiting for the open
  };
  // One main fid's lane fids; shared with the open chains in flight and the Targets
  // handed out, which check `forgotten` (the main fid number may be reused by another
  // file meanwhile).
  struct File {
    std::vector<LaneFid> lanes;           // guarded by Lanes::mu_
    std::atomic<bool> forgotten = false;  // set under Lanes::mu_; read without it
  };

 private:
  struct Open;  // the state of one asynchronous walk + open (lanes.cc)

  Lanes(FidTable& main_fids, std::vector<std::unique_ptr<Client>> clients);
  void start_open(std::shared_ptr<File> file, size_t lane, uint32_t main_fid);
  void walk_next(std::shared_ptr<Open> op);
  void send_open(std::shared_ptr<Open> op);
  void finish(const std::shared_ptr<Open>& op, bool ok);

  FidTable& main_fids_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::atomic<uint64_t> next_{0};  // round-robin cursor
  std::mutex mu_;
  std::unordered_map<uint32_t, std::shared_ptr<File>> files_;  // by main fid
};

}  // namespace netfs::p9
