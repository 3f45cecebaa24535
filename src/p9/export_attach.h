// attach_export: a 9P session with an export, for a mount: the name lookup, the connect,
// the version handshake and the attach, each on its own so that the message a person
// reads names the step that failed (unreachable server, refused export, authentication).
//
// Threading: blocks the caller; call before the session is shared.
#pragma once

#include <memory>
#include <string>

#include "netfs/result.h"
#include "p9/client.h"

namespace netfs::p9 {

// On failure *why (if not null) says, for a person, which step failed and why.
Result<std::unique_ptr<Client>> attach_export(const ClientOptions& co, std::string* why);

}  // namespace netfs::p9
