// Session setup: what happens on a freshly connected socket before the asynchronous
// client takes it over, both at first connect and after every reconnect: Tversion (msize
// negotiation), Tattach of the root fid, and the rebuilding of every fid the client had,
// by walking its remembered path from the root, re-opening it with its flags (minus
// O_CREAT, O_EXCL and O_TRUNC: a re-open must never truncate or create) and taking its
// POSIX locks again (they died with the old session). A fid whose lock is now held by
// someone else is marked stale: I/O that relied on the lock must not go on without it.
//
// It runs one RPC at a time with a blocking, time-limited exchange on the raw socket, so
// a half-dead server cannot hang a reconnect, and nothing else may use the socket yet.
//
// Threading: called by one thread (the connecting caller or the client's reconnect
// thread); touches the FidTable through its own lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "netfs/result.h"
#include "p9/fid_table.h"
#include "p9/protocol.h"

namespace netfs::p9 {

// How the attach authenticates. diod without -n wants MUNGE (munge_credential.h):
// Tauth, the credential written into the auth fid, Tattach with that afid.
enum class Auth {
  kAuto,   // attach without; if refused and the server answers Tauth, authenticate with MUNGE
  kNone,   // never authenticate
  kMunge,  // always authenticate with MUNGE, before the first attach
};

struct SessionConfig {
  uint32_t msize = 1u << 20;  // asked for; the server may grant less
  std::string uname;
  std::string aname;
  uint32_t n_uname = kNoUname;
  Auth auth = Auth::kAuto;
  std::chrono::milliseconds timeout{10000};  // per setup RPC
};

struct SessionInfo {
  uint32_t msize = 0;    // granted
  Qid root_qid;
  size_t rebuilt = 0;    // fids walked (and re-opened) again
  size_t stale = 0;      // fids that could not be rebuilt
  size_t locks = 0;      // POSIX locks taken again
};

// Requires: fd is a connected, blocking stream socket that nothing else uses.
// An attach the server refuses comes back with one of these contexts, so that a caller
// can say which step failed (the errno is the server's); other failures keep theirs.
Result<SessionInfo> setup_session(int fd, const SessionConfig& cfg, FidTable& fids);
inline constexpr char kAttachRefused[] = "9P attach: refused by the server";
inline constexpr char kAuthRequired[] = "9P attach: the server requires authentication (auth=none was asked)";
inline constexpr char kMungeUnavailable[] = "9P auth: no MUNGE credential could be made (is munged running?)";
inline constexpr char kAuthRejected[] = "9P auth: the server refused our MUNGE credential";

}  // namespace netfs::p9
