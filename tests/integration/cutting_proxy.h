// CuttingProxy: a TCP proxy on 127.0.0.1 (a free port) in front of a server, for tests of
// recovery from lost connections. It forwards both directions of each connection and,
// while cutting is on, resets the connection (RST both ways, as a crashed middlebox or a
// lost route does) after a byte budget drawn for that connection from a seeded generator:
// the same seed gives the same sequence of budgets, and a cut falls wherever the budget
// ends, usually in the middle of a message. Budgets count the bytes of both directions.
//
// Threading: start() and stop() from one thread; the accept loop and one relay thread per
// connection run inside; the counters may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "p9/endpoint.h"

namespace netfs::testing {

class CuttingProxy {
 public:
  // Each connection is cut after a budget drawn uniformly from [min_bytes, max_bytes].
  CuttingProxy(p9::Endpoint target, uint64_t seed, uint64_t min_bytes, uint64_t max_bytes);
  ~CuttingProxy();
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  // Listens on 127.0.0.1 at a port the kernel chooses; false (error()) if it cannot.
  bool start();
  // Closes the listener and every connection, and joins the threads.
  void stop();
  // Off: connections made from now on are forwarded without a cut (those open keep the
  // budget they were given).
  void set_cutting(bool on) { cutting_.store(on); }

  uint16_t port() const { return port_; }
  const std::string& error() const { return error_; }
  uint64_t connections() const { return connections_.load(); }
  uint64_t cuts() const { return cuts_.load(); }
  uint64_t bytes() const { return bytes_.load(); }

 private:
  void accept_loop();
  void relay(int client, uint64_t budget);
  uint64_t next_budget();

  const p9::Endpoint target_;
  const uint64_t min_bytes_, max_bytes_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;  // rng_mu_
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd: readable once stop() is called
  uint16_t port_ = 0;
  std::string error_;
  std::atomic<bool> cutting_{true};
  std::atomic<uint64_t> connections_{0}, cuts_{0}, bytes_{0};
  std::thread acceptor_;
  std::mutex relays_mu_;
  std::vector<std::thread> relays_;  // relays_mu_
};

}  // namespace netfs::testing
