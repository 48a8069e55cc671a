// Test support for p2p hosts: an io_context on two threads (Loop), a host listening on
// a free loopback port with the diagnostic echo protocol (make_host), and polling.
#pragma once

#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "p2p/host/diagnostics.h"
#include "p2p/host/host.h"
#include "support/io_threads.h"

namespace bzzz::p2p::testing {

class Loop : public bzzz::testing::IoThreads {
 public:
  Loop() : IoThreads(2) {}
  // Runs a coroutine on the loop and waits for it (20 s at most: then the test aborts,
  // since the coroutine may still use the test's locals).
  template <class T>
  T run(boost::asio::awaitable<T> coro) {
    auto f = boost::asio::co_spawn(io(), std::move(coro), boost::asio::use_future);
    if (f.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "timed out";
      std::abort();
    }
    return f.get();
  }
};

// Keep-alive pings are off unless `options` asks for an interval other than the default.
inline std::shared_ptr<Host> make_host(boost::asio::io_context& io, HostOptions options = {},
                                       prometheus::Registry* metrics = nullptr,
                                       PrivateKey key = PrivateKey::generate()) {
  if (options.listen.empty()) options.listen = {*Multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
  if (options.connection.keepalive_interval == HostOptions{}.connection.keepalive_interval) {
    options.connection.keepalive_interval = std::chrono::milliseconds(0);
  }
  auto host = Host::create(io, std::move(key), std::move(options), metrics);
  add_diagnostic_protocols(*host);
  EXPECT_TRUE(host->start());
  return host;
}

inline Multiaddr addr_of(const Host& h) { return h.listen_addrs().at(0).with_peer_id(h.id()); }
inline uint16_t port_of(const Host& h) { return h.listen_addrs().at(0).tcp_endpoint()->port; }

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return f();
}

}  // namespace bzzz::p2p::testing
