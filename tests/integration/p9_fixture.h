// A fixture for 9P integration tests: a fresh diod and a connected Client + Namespace.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "fakes/pattern.h"
#include "integration/diod_server.h"
#include "p9/client.h"
#include "p9/namespace_ops.h"

namespace netfs::testing {

inline p9::ClientOptions diod_options(const DiodServer& d) {
  p9::ClientOptions o;
  o.endpoint = d.endpoint();
  o.aname = d.dir();
  o.uname = "root";
  o.n_uname = static_cast<uint32_t>(geteuid());
  o.rpc_timeout = std::chrono::milliseconds(10000);
  o.connect_timeout = std::chrono::milliseconds(2000);
  return o;
}

class DiodFixture : public ::testing::Test {
 protected:
  void SetUp() override { connect(); }
  void connect(DiodServer::Transport t = DiodServer::Transport::kTcp, p9::ClientOptions* opts = nullptr) {
    ns_.reset();
    client_.reset();
    diod_ = std::make_unique<DiodServer>(t);
    ASSERT_TRUE(diod_->start()) << diod_->error();
    auto o = opts ? *opts : diod_options(*diod_);
    o.endpoint = diod_->endpoint();
    o.aname = diod_->dir();
    auto c = p9::Client::connect(o);
    ASSERT_TRUE(c.ok()) << c.error().message();
    client_ = std::move(*c);
    ns_ = std::make_unique<p9::Namespace>(*client_);
  }
  void TearDown() override {
    ns_.reset();
    client_.reset();
    diod_.reset();
  }

  std::unique_ptr<DiodServer> diod_;
  std::unique_ptr<p9::Client> client_;
  std::unique_ptr<p9::Namespace> ns_;
};

}  // namespace netfs::testing
