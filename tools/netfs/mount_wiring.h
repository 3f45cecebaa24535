// Wiring of a mount, in one place: for a parsed URL and options, the engine, the flusher,
// the local cache and the backend of the URL's scheme (tools/netfs/schemes.h) are built
// here and handed down to the FUSE layer's Filesystem, which builds none of them.
//
// Threading: call from one thread (the mount daemon, after its fork; tests).
#pragma once

#include <memory>
#include <string>

#include "fuse/filesystem.h"
#include "fuse/mount_options.h"
#include "fuse/remote_url.h"
#include "netfs/result.h"

namespace netfs::cli {

// On failure *why says, for a person, what failed (the cache directory, the server, the
// export).
Result<std::unique_ptr<fuse::Filesystem>> build_mount(const fuse::RemoteUrl& url, const fuse::MountOptions& opts,
                                                      std::string* why);

}  // namespace netfs::cli
