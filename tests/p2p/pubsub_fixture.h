// Test support for gossipsub: routers on real hosts in one process (Mesh), reading
// counters from a node's registry (metric), and draining subscriptions (collect).
#pragma once

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>

#include "support/metric.h"
#include "p2p/host_fixture.h"
#include "p2p/pubsub/router.h"

namespace bzzz::p2p::pubsub::testing {

using namespace std::chrono_literals;
using p2p::testing::addr_of;
using p2p::testing::eventually;
using p2p::testing::Loop;
using p2p::testing::make_host;

inline std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

inline Options fast_options() {
  Options o;
  o.heartbeat_interval = 100ms;
  o.heartbeat_initial_delay = 10ms;
  return o;
}

struct Node {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<Host> host;
  std::shared_ptr<Router> router;
};

struct Mesh {
  // Declared first, so destroyed last: hosts may still count into their registries
  // from the loop's threads until the loop is gone.
  std::vector<std::shared_ptr<prometheus::Registry>> registries;
  Loop loop;
  std::vector<Node> nodes;

  explicit Mesh(size_t n, Options options = fast_options()) {
    HostOptions ho;
    ho.max_connections = 500;
    for (size_t i = 0; i < n; ++i) {
      Node node;
      registries.push_back(node.registry);
      node.host = make_host(loop.io(), ho, node.registry.get());
      node.router = Router::create(*node.host, options, node.registry.get());
      node.router->start();
      nodes.push_back(std::move(node));
    }
  }
  ~Mesh() {
    for (auto& n : nodes) n.router->stop();
    for (auto& n : nodes) n.host->stop();
    eventually([&] {
      for (auto& n : nodes) {
        if (!n.host->idle()) return false;
      }
      return true;
    });
  }
  void connect(size_t a, size_t b) {
    auto c = loop.run(nodes[a].host->connect(addr_of(*nodes[b].host)));
    ASSERT_TRUE(c) << c.error().message();
  }
  // Waits until every node's router sees `topic` announced by at least `min` peers.
  bool topic_ready(const std::string& topic, size_t min) {
    return eventually([&] {
      for (auto& n : nodes) {
        bool ok = false;
        for (const auto& t : n.router->topics()) {
          if (t.topic == topic && t.peers.size() >= min) ok = true;
        }
        if (!ok) return false;
      }
      return true;
    }, 20s);
  }
};

using ::bzzz::testing::metric;

// Drains every subscription until `want` messages each, or the deadline.
inline std::vector<std::vector<Message>> collect(std::vector<std::shared_ptr<Subscription>>& subs, size_t want,
                                          std::chrono::milliseconds limit = 20s) {
  std::vector<std::vector<Message>> got(subs.size());
  eventually([&] {
    bool all = true;
    for (size_t i = 0; i < subs.size(); ++i) {
      while (auto m = subs[i]->try_next()) got[i].push_back(std::move(*m));
      if (got[i].size() < want) all = false;
    }
    return all;
  }, limit);
  std::this_thread::sleep_for(200ms);  // duplicates would arrive now
  for (size_t i = 0; i < subs.size(); ++i) {
    while (auto m = subs[i]->try_next()) got[i].push_back(std::move(*m));
  }
  return got;
}

}  // namespace bzzz::p2p::pubsub::testing
