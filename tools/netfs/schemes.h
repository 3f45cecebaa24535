// The URL schemes a mount speaks, in one table: each entry names what its URLs look like
// and the function that connects to the server such a URL names and builds the backend
// parts of the mount (for 9P: a client session attached to the export). The next
// protocol (S3, issue 13) is one entry here plus its backend.
//
// Threading: the table is constant.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "fuse/filesystem.h"
#include "fuse/mount_options.h"
#include "fuse/remote_url.h"
#include "netfs/result.h"

namespace netfs::cli {

struct Scheme {
  std::string_view prefix;  // "9p://"
  std::string_view form;    // what a URL of it looks like, for help and messages
  // Connects to the server and fills the protocol's parts (parts.engine is built): on
  // failure *why says, for a person, which step failed.
  Status (*connect)(const fuse::RemoteUrl& url, const fuse::MountOptions& opts, fuse::MountParts& parts,
                    std::string* why);
};

std::span<const Scheme> schemes();
// The scheme of url (by its prefix), or null.
const Scheme* scheme_of(std::string_view url);
// Every scheme's form, joined with " or " (for help texts).
std::string scheme_forms();

}  // namespace netfs::cli
