// The libfuse low-level operation table: each entry unpacks a FUSE request, calls the
// Filesystem (the request's userdata) and replies. No filesystem logic lives here, only
// the translation between libfuse's types and ours.
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>

namespace netfs::fuse {

const fuse_lowlevel_ops& lowlevel_ops();

}  // namespace netfs::fuse
