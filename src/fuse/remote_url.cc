#include "fuse/remote_url.h"

#include <sys/stat.h>

#include <charconv>

namespace netfs::fuse {

std::string RemoteUrl::to_string() const {
  if (endpoint.kind == p9::Endpoint::Kind::kUnix) return "9p+unix://" + endpoint.path + export_path;
  std::string host = endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host;
  return "9p://" + (user.empty() ? "" : user + "@") + host + ":" + std::to_string(endpoint.port) + export_path;
}

Result<RemoteUrl> parse_remote_url(std::string_view url, std::string* why) {
  auto fail = [&](std::string msg) -> Result<RemoteUrl> {
    if (why) *why = "bad remote '" + std::string(url) + "': " + msg;
    return make_error(EINVAL, "remote url");
  };
  // The URL becomes the mount's fsname= option; libfuse splits options at ',' and
  // unescapes '\\', so either character would let a URL smuggle in mount options
  // (allow_other without the default_permissions it implies, say).
  if (url.find_first_of(",\\") != std::string_view::npos) return fail("',' and '\\' are not allowed in a remote");
  RemoteUrl r;
  if (url.starts_with("9p+unix://")) {
    std::string_view path = url.substr(10);
    if (!path.starts_with("/")) return fail("expected 9p+unix:///path/to/socket/EXPORT");
    // Try each prefix ending at a '/': the first that is a socket splits the URL.
    for (size_t i = 1; i <= path.size(); i++) {
      if (i != path.size() && path[i] != '/') continue;
      std::string sock(path.substr(0, i));
      struct stat st;
      if (::stat(sock.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        r.endpoint = p9::Endpoint::unix_socket(sock);
        r.export_path = i == path.size() ? "/" : std::string(path.substr(i));
        return r;
      }
    }
    return fail("no Unix socket found along the path");
  }
  if (!url.starts_with("9p://")) return fail("expected 9p://HOST:PORT/EXPORT or 9p+unix:///SOCKET/EXPORT");
  std::string_view rest = url.substr(5);
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  r.export_path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  // The host part never holds '@' (a v6 address has none), so the last one ends the user.
  if (size_t at = hostport.rfind('@'); at != std::string_view::npos) {
    r.user = std::string(hostport.substr(0, at));
    hostport.remove_prefix(at + 1);
    if (r.user.empty()) return fail("empty user name before @");
  }
  if (hostport.empty()) return fail("no host");
  std::string_view host = hostport, port = "564";
  if (hostport.front() == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return fail("unclosed [ in host");
    host = hostport.substr(1, close - 1);
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("junk after ]");
      port = after.substr(1);
    }
  } else {
    size_t colon = hostport.rfind(':');
    if (colon != std::string_view::npos) {
      host = hostport.substr(0, colon);
      port = hostport.substr(colon + 1);
    }
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535) return fail("bad port");
  if (host.empty()) return fail("no host");
  r.endpoint = p9::Endpoint::tcp(std::string(host), static_cast<uint16_t>(p));
  return r;
}

}  // namespace netfs::fuse
