// MungeCredential: what diod's MUNGE authentication expects written into the auth fid
// (chaos/diod src/libdiod/diod_auth.c): a credential munge_encode makes with no payload,
// naming this process's uid and gid, which the server's munged decodes with the key both
// munged share. The server then attaches only if that uid is the attach user's.
//
// Threading: any thread; libmunge talks to the local munged over its socket each call.
#pragma once

#include <string>

#include "netfs/result.h"

namespace netfs::p9 {

// EACCES with munge's own reason as context (a static string) when no credential could
// be made: no munged, or its socket unreachable.
Result<std::string> munge_credential();

}  // namespace netfs::p9
