// Endpoint: where a 9P server listens, a TCP address or a Unix socket path, parsed from
// "tcp:HOST:PORT", "HOST:PORT" or "unix:PATH", and the one function that opens a
// connected stream socket to it with a time limit.
//
// Threading: values and a blocking function.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "netfs/result.h"

namespace netfs::p9 {

struct Endpoint {
  enum class Kind : uint8_t { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;  // numeric address or a name for getaddrinfo
  uint16_t port = 0;
  std::string path;  // Unix socket path

  static Result<Endpoint> parse(std::string_view s);
  std::string to_string() const;
  static Endpoint tcp(std::string host, uint16_t port) { return {Kind::kTcp, std::move(host), port, {}}; }
  static Endpoint unix_socket(std::string path) { return {Kind::kUnix, {}, 0, std::move(path)}; }
};

// Opens a blocking stream socket connected to ep (TCP_NODELAY set), or the connect
// error (ECONNREFUSED while a server restarts, ETIMEDOUT after `timeout`).
Result<int> connect_endpoint(const Endpoint& ep, std::chrono::milliseconds timeout);

}  // namespace netfs::p9
