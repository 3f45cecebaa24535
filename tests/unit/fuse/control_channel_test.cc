// The control channel's server and the unmount drain, alone (no FUSE, no 9P): a long
// request does not keep others from an answer, connections are bounded, stop() ends
// waiting handlers, and umounts that come together share one drain and its outcome.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <vector>

#include "fuse/control_channel.h"
#include "fuse/unmount_drain.h"

namespace netfs::fuse {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A gate a test opens once.
class Gate {
 public:
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds limit) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A mountpoint name no mount has: only its control socket path matters here.
std::string fake_mountpoint(const char* what) {
  return std::string("/netfs-control-test/") + what + "-" + std::to_string(getpid());
}

TEST(ControlServer, AnswersWhileALongRequestRuns) {
  Gate release, started;
  ControlServer server;
  std::string mp = fake_mountpoint("long");
  ASSERT_TRUE(server
                  .start(control_socket_path(mp),
                         [&](std::string_view cmd, ControlReply&) -> std::string {
                           if (cmd == "long") {
                             started.open();
                             release.wait(30s);
                             return "OK\nlong done\n";
                           }
                           return "OK\nquick\n";
                         })
                  .ok());
  auto slow = std::async(std::launch::async, [&] { return control_request(mp, "long", nullptr, 30000); });
  ASSERT_TRUE(started.wait(10s));
  auto t0 = Clock::now();
  auto quick = control_request(mp, "stats", nullptr, 10000);
  EXPECT_LT(Clock::now() - t0, 1s);
  ASSERT_TRUE(quick.ok());
  EXPECT_EQ(*quick, "quick\n");
  release.open();
  auto s = slow.get();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "long done\n");
  server.stop();
}

TEST(ControlServer, RefusesConnectionsBeyondItsBound) {
  Gate release;
  std::atomic<size_t> waiting{0};
  ControlServer server;
  std::string mp = fake_mountpoint("bound");
  ASSERT_TRUE(server
                  .start(control_socket_path(mp),
                         [&](std::string_view, ControlReply&) -> std::string {
                           waiting++;
                           release.wait(30s);
                           return "OK\n";
                         })
                  .ok());
  std::vector<std::future<Result<std::string>>> held;
  for (size_t i = 0; i < ControlServer::kMaxConnections; i++)
    held.push_back(std::async(std::launch::async, [&] { return control_request(mp, "x", nullptr, 30000); }));
  // Bounded wait for the very condition: every allowed connection is in its handler.
  auto deadline = Clock::now() + 10s;
  while (waiting.load() < ControlServer::kMaxConnections && Clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_EQ(waiting.load(), ControlServer::kMaxConnections);
  std::string why;
  auto extra = control_request(mp, "x", &why, 10000);
  ASSERT_FALSE(extra.ok());
  EXPECT_EQ(extra.errnum(), EBUSY) << why;
  release.open();
  for (auto& h : held) EXPECT_TRUE(h.get().ok());
  server.stop();
}

TEST(ControlServer, StopEndsAHandlerThatWaitsAndItsClientSeesTheEnd) {
  ControlServer server;
  std::string mp = fake_mountpoint("stop");
  Gate started;
  ASSERT_TRUE(server
                  .start(control_socket_path(mp),
                         [&](std::string_view, ControlReply& reply) -> std::string {
                           reply.send("OK\nfirst\n");
                           started.open();
                           while (!reply.stopping()) std::this_thread::sleep_for(5ms);
                           return "never sent\n";
                         })
                  .ok());
  std::vector<std::string> lines;
  auto client = std::async(std::launch::async, [&] {
    return control_stream(mp, "x", [&](std::string_view l) { lines.emplace_back(l); }, nullptr, 30000);
  });
  ASSERT_TRUE(started.wait(10s));
  server.stop();
  EXPECT_TRUE(client.get().ok());
  EXPECT_EQ(lines, std::vector<std::string>{"first"});
  // Nobody listens any more: that is what `netfs umount` may call a dead mount.
  auto after = control_request(mp, "x", nullptr, 1000);
  ASSERT_FALSE(after.ok());
  EXPECT_TRUE(nobody_listens(after.errnum())) << after.errnum();
}

TEST(UnmountDrain, ASecondJoinerSharesTheRunningRoundAndItsOutcome) {
  Gate release, running;
  std::atomic<int> runs{0};
  UnmountDrain drain([&] {
    int n = ++runs;
    running.open();
    release.wait(30s);
    return "outcome " + std::to_string(n);
  });
  std::atomic<bool> first_joined{true};
  auto first = std::async(std::launch::async, [&] {
    return drain.join(5ms, [] { return true; }, [&](bool j) { first_joined = j; });
  });
  ASSERT_TRUE(running.wait(10s));
  bool second_joined = false;
  Gate second_in;
  auto second = std::async(std::launch::async, [&] {
    return drain.join(5ms, [] { return true; }, [&](bool j) {
      second_joined = j;
      second_in.open();
    });
  });
  ASSERT_TRUE(second_in.wait(10s));  // it is in, before the round ends
  std::atomic<int> calls{0};
  auto third = std::async(std::launch::async, [&] {
    return drain.join(1ms, [&] { return ++calls < 3; });  // gives up after two reports
  });
  EXPECT_FALSE(third.get().has_value());
  release.open();
  auto a = first.get(), b = second.get();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, "outcome 1");
  EXPECT_EQ(*b, "outcome 1");
  EXPECT_FALSE(first_joined.load());
  EXPECT_TRUE(second_joined);
  EXPECT_EQ(runs.load(), 1);
  // The next umount starts a round of its own.
  auto c = drain.join(5ms, [] { return true; });
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, "outcome 2");
  drain.wait_idle();
}

}  // namespace
}  // namespace netfs::fuse
