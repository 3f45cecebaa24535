// The netfs(1) manual page, made by the program itself (`netfs --man`) at build time, so
// that its mount options come from the same table as `netfs mount --help` and the
// parser (src/fuse/mount_options.cc): the page cannot drift from what the code accepts.
#pragma once

#include <string>

namespace netfs::cli {

// roff (man(7) macros) for netfs(1); mount.netfs(8) is a .so link to it.
std::string man_page(const std::string& version);

}  // namespace netfs::cli
