// Drives a backend's issue_read / issue_write directly, as the engine's read path (not
// written yet) will: one unbuffered Request over a flat buffer, cut into subrequests of
// the size prepare_* allows, with up to `depth` of them in flight. Used by the backend
// tests and the benchmark to exercise reads through RequestOps.
#pragma once

#include <deque>
#include <memory>

#include "netfs/engine.h"
#include "netfs/inode.h"
#include "netfs/request.h"
#include "netfs/request_ops.h"

namespace netfs::testing {

// Returns bytes moved (short at end of file for reads) or the first error.
inline Result<size_t> drive_subrequests(Engine& engine, const std::shared_ptr<Inode>& inode, RequestOps& ops,
                                        bool write, uint64_t pos, std::byte* buf, size_t len, size_t depth) {
  auto* rreq = new Request(engine, inode, write ? Origin::kUnbufferedWrite : Origin::kUnbufferedRead, pos, len);
  std::deque<Subrequest*> inflight;
  size_t issued = 0, done = 0;
  unsigned index = 0;
  int error = 0;
  bool eof = false;
  auto issue = [&](size_t off) {
    auto* s = new Subrequest(rreq, 0, index++, pos + off);
    if (write)
      ops.prepare_write(*s);
    else
      ops.prepare_read(*s);
    size_t n = len - off;
    if (s->max_len() && s->max_len() < n) n = s->max_len();
    s->len_ = n;
    s->io_base_ = IoIter::flat(buf + off, n);
    s->get_ref();  // the issue's reference, dropped by terminated()
    inflight.push_back(s);
    if (write)
      ops.issue_write(*s);
    else
      ops.issue_read(*s);
    return n;
  };
  while (true) {
    while (!error && !eof && issued < len && inflight.size() < depth) issued += issue(issued);
    if (inflight.empty()) break;
    Subrequest* s = inflight.front();
    {
      std::unique_lock lk(rreq->lock_);
      rreq->waitq_.wait(lk, [&] { return !s->test(sreq_flag::kInProgress); });
    }
    inflight.pop_front();
    if (s->test(sreq_flag::kFailed) || s->test(sreq_flag::kNeedRetry)) {
      if (!error) error = s->error();
    } else if (!error && !eof) {
      done += s->transferred();
      if (s->transferred() < s->len()) {
        if (!write) {
          eof = true;  // reads: a short read is the end of the file
        } else {
          issued = done;  // writes: send the rest again
        }
      }
    }
    s->put_ref();
  }
  rreq->put_ref();  // the in-progress reference
  rreq->put_ref();  // ours; cleanup runs on the engine's work queue
  if (error) return make_error(error, "subrequest failed");
  return done;
}

}  // namespace netfs::testing
