#include "p9/export_attach.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "p9/endpoint.h"
#include "p9/session_setup.h"

namespace netfs::p9 {

Result<std::unique_ptr<Client>> attach_export(const ClientOptions& co, std::string* why) {
  const std::string server = co.endpoint.to_string();
  if (co.endpoint.kind == Endpoint::Kind::kTcp) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = getaddrinfo(co.endpoint.host.c_str(), nullptr, &hints, &res); rc != 0) {
      if (why) *why = "cannot resolve host name '" + co.endpoint.host + "': " + gai_strerror(rc);
      return make_error(rc == EAI_SYSTEM ? errno : EHOSTUNREACH, "name lookup");
    }
    freeaddrinfo(res);
  }
  auto probe = connect_endpoint(co.endpoint, std::chrono::milliseconds(5000));
  if (!probe.ok()) {
    if (why) *why = "cannot reach 9P server at " + server + ": connect: " + strerror(probe.error().errnum);
    return probe.error();
  }
  ::close(*probe);

  auto c = Client::connect(co);
  if (c.ok()) return c;
  const Error& e = c.error();
  std::string err = strerror(e.errnum);
  if (!why) {
  } else if (e.context == kAuthRequired) {
    *why = "9P server at " + server + " requires authentication (diod without -n) and auth=none was asked: " +
           "attach refused: " + err;
  } else if (e.context == kMungeUnavailable) {
    *why = "9P server at " + server + " requires authentication, and no MUNGE credential could be made " +
           "(is munged running here, with the server's key?): " + err;
  } else if (e.context == kAuthRejected) {
    *why = "9P server at " + server + " rejected our MUNGE authentication as user '" + co.uname +
           "' (a different munge key, or the credential's uid is not the attach user's): " + err;
  } else if (e.context == kAttachRefused) {
    *why = "9P server at " + server + " refused export '" + co.aname + "' (attach as user '" + co.uname +
           "'): " + err;
  } else {
    *why = "9P session setup with " + server + " failed (version handshake and attach): " + e.message();
  }
  return e;
}

}  // namespace netfs::p9
