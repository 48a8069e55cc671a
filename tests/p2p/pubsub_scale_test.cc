// Gossipsub at scale on loopback: 50 routers in one process, each dialing 3 random
// others; each publishes 20 messages on one topic, and every node delivers all 1,000
// exactly once. Delivery, not time, is what passes.
#include <random>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "p2p/pubsub_fixture.h"

namespace bzzz::p2p::pubsub {
namespace {

using namespace testing;

TEST(PubsubScale, FiftyNodesEachPublishTwentyAndEveryNodeDeliversAllExactlyOnce) {
  constexpr size_t kNodes = 50, kEach = 20;
  Options options = fast_options();
  options.heartbeat_interval = 200ms;
  Mesh mesh(kNodes, options);
  std::mt19937 rng(7);
  for (size_t i = 1; i < kNodes; ++i) {
    std::set<size_t> to;
    while (to.size() < std::min<size_t>(3, i)) to.insert(rng() % i);
    for (size_t j : to) mesh.connect(i, j);
  }
  std::vector<std::shared_ptr<Subscription>> subs;
  for (auto& n : mesh.nodes) subs.push_back(n.router->subscribe("scale"));
  ASSERT_TRUE(mesh.topic_ready("scale", 1));
  std::this_thread::sleep_for(1s);  // a few heartbeats: meshes fill up to D
  for (size_t k = 0; k < kEach; ++k) {
    for (size_t i = 0; i < kNodes; ++i) {
      ASSERT_TRUE(mesh.nodes[i].router->publish("scale", bytes_of(fmt::format("{}/{}", i, k))));
    }
  }
  auto got = collect(subs, kNodes * kEach, 60s);
  size_t meshed = 0, empty = 0;
  for (size_t i = 0; i < kNodes; ++i) {
    std::set<std::string> ids;
    for (const auto& m : got[i]) ids.insert(m.id);
    EXPECT_EQ(got[i].size(), kNodes * kEach) << "node " << i;
    EXPECT_EQ(ids.size(), got[i].size()) << "node " << i << " delivered a message twice";
    for (const auto& t : mesh.nodes[i].router->topics()) {
      if (t.topic != "scale") continue;
      if (t.mesh.size() >= std::min(options.d_lo, t.peers.size())) ++meshed;
      if (t.mesh.empty()) ++empty;
    }
  }
  // Every node is in a mesh; nearly every mesh reached D_lo (or all of the node's topic
  // peers where it has fewer): a node pruned by peers over D_hi waits out their
  // backoff before it grafts them again.
  EXPECT_EQ(empty, 0u);
  EXPECT_GE(meshed, kNodes * 9 / 10);
}

}  // namespace
}  // namespace bzzz::p2p::pubsub
