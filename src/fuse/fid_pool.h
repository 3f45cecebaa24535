// FidPool: the metadata fids of the FUSE layer's nodes as a cache over their names. A
// node's fid is only a handle on one of the paths it was found under (diod names fids
// by path): when that path stops leading to the file, or the fid was given back, restore
// walks a fresh one from the export root along the node's names in turn, keeping the
// first that reaches the same file (same qid.path). The walk is the client's own
// (Namespace::walk from the root, recorded in its FidTable like every fid, so a
// reconnect rebuilds it as any other).
//
// Threading: thread-safe. restore takes the node's fid_mu exclusively and holds it
// across its walks; callers hold no fid_mu of that node.
#pragma once

#include <atomic>
#include <cstdint>

#include "fuse/node.h"
#include "netfs/result.h"
#include "p9/client.h"
#include "p9/namespace_ops.h"

namespace netfs::fuse {

class FidPool {
 public:
  // Names a node remembers at most: a file with more hard links than this answers
  // through the most recently used ones.
  static constexpr size_t kMaxNames = 8;

  FidPool(p9::Namespace& ns, p9::Client& client) : ns_(ns), client_(client) {}
  FidPool(const FidPool&) = delete;
  FidPool& operator=(const FidPool&) = delete;

  // Is fid no longer usable as a node's fid (the client marked it stale: its name went)?
  bool dead(uint32_t fid) const { return fid == p9::kNoFid || client_.fids().is_stale(fid); }
  // Requires n.fid_mu held exclusively: n.fid is now `fid`; its path (from the client's
  // FidTable) becomes n's most recent name.
  void note_name_locked(Node& n, uint32_t fid);
  // Gives n a usable fid if its fid is still `seen` (else another thread did already).
  // ENOENT when no name of n leads to its file any more (n then holds no fid).
  Status restore(Node& n, uint32_t seen);
  // The name dir/name no longer leads to the file it led to (we unlinked it, or renamed
  // another file over it: keep is that file's qid.path): nodes walked there must not
  // answer through it.
  void name_gone(uint32_t dir, std::string_view name, uint64_t keep = UINT64_MAX);
  // A directory moved from `from` to `to`: names of n below it move too.
  static void rename_names(Node& n, const p9::Path& from, const p9::Path& to);

  uint64_t rewalked() const { return rewalked_.load(std::memory_order_relaxed); }

 private:
  p9::Namespace& ns_;
  p9::Client& client_;
  std::atomic<uint64_t> rewalked_{0};  // fids walked again from a remembered name
};

}  // namespace netfs::fuse
