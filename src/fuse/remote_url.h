// RemoteUrl: what `netfs mount` is told to mount, parsed from
//   9p://[USER@]HOST:PORT/EXPORT      TCP (HOST may be [v6addr]; PORT defaults to 564;
//                                     USER is the attach name, as uname= sets it)
//   9p+unix:///path/to/socket/EXPORT  a Unix socket: the longest leading part of the path
//                                     that is a socket on this machine is the socket, the
//                                     rest is the export
// The export is the attach name (aname) the server checks against its exports.
//
// Threading: values; parse_remote_url stats the filesystem for the unix form.
#pragma once

#include <string>
#include <string_view>

#include "netfs/result.h"
#include "p9/endpoint.h"

namespace netfs::fuse {

struct RemoteUrl {
  p9::Endpoint endpoint;
  std::string export_path;  // "/srv/export"
  std::string user;         // "" when the URL names none
  std::string to_string() const;
};

// On error returns EINVAL and sets *why.
Result<RemoteUrl> parse_remote_url(std::string_view url, std::string* why);

}  // namespace netfs::fuse
