// Fifty DHT nodes in one process, each dialing three others at random: after a refresh,
// a provider put by one node is found from every other node, and lookups take about
// log2(N) hops or fewer (asserted on hops, never on timings).
#include <cmath>
#include <future>
#include <random>
#include <set>

#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "p2p/dht_fixture.h"

namespace bzzz::p2p::dht {
namespace {

using namespace testing;

TEST(DhtScale, FiftyNodesFindAProviderFromEveryNode) {
  constexpr size_t kNodes = 50;
  constexpr size_t kDials = 3;
  Cluster cluster;
  Loop& loop = cluster.loop;
  std::vector<Node> nodes;
  for (size_t i = 0; i < kNodes; ++i) nodes.push_back(cluster.make_node());
  std::mt19937 rng(20261127);
  std::vector<std::set<size_t>> dialed(kNodes);
  for (size_t i = 0; i < kNodes; ++i) {
    while (dialed[i].size() < kDials) {
      size_t j = rng() % kNodes;
      if (j == i || dialed[i].count(j)) continue;
      dialed[i].insert(j);
      auto c = loop.run(nodes[i].host->connect(addr_of(*nodes[j].host)));
      ASSERT_TRUE(c) << c.error().message();
    }
  }
  ASSERT_TRUE(eventually([&] {
    for (size_t i = 0; i < kNodes; ++i) {
      for (size_t j : dialed[i]) {
        if (!in_table(*nodes[i].dht, nodes[j].host->id())) return false;
      }
    }
    return true;
  }, 20s));

  std::vector<std::future<Status>> refreshes;
  for (auto& n : nodes) refreshes.push_back(boost::asio::co_spawn(loop.io(), n.dht->refresh(), boost::asio::use_future));
  for (auto& f : refreshes) {
    ASSERT_EQ(f.wait_for(40s), std::future_status::ready);
    auto st = f.get();
    EXPECT_TRUE(st) << st.error().message();
  }
  size_t table_total = 0;
  for (auto& n : nodes) table_total += n.dht->routing_table_size();

  const size_t provider = rng() % kNodes;
  const Bytes key = multihash_of("fifty nodes");
  auto sent = loop.run(nodes[provider].dht->provide(key));
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_GE(*sent, 15u);  // the k (20) closest, give or take unreachable ones

  size_t found = 0;
  std::vector<int> hops;
  for (size_t i = 0; i < kNodes; ++i) {
    if (i == provider) continue;
    double lookups_before = metric(*nodes[i].registry, "bzzz_dht_lookup_seconds");
    auto r = loop.run(nodes[i].dht->find_providers(key, 1));
    ASSERT_TRUE(r) << r.error().message();
    if (!r->empty() && r->front().id == nodes[provider].host->id() && !r->front().addrs.empty()) ++found;
    if (metric(*nodes[i].registry, "bzzz_dht_lookup_seconds") > lookups_before) {
      hops.push_back(nodes[i].dht->last_lookup()->hops);
    }
  }
  EXPECT_EQ(found, kNodes - 1);
  ASSERT_FALSE(hops.empty());
  std::sort(hops.begin(), hops.end());
  int median = hops[hops.size() / 2];
  double bound = std::log2(static_cast<double>(kNodes)) + 2;
  EXPECT_LE(median, bound);
  EXPECT_LE(hops.back(), 2 * bound);
  std::cout << "[ scale    ] " << kNodes << " nodes, " << table_total / kNodes << " peers per table on average, "
            << hops.size() << " network lookups: median hops " << median << ", max " << hops.back() << "\n";
  for (auto& n : nodes) n.stop();
}

}  // namespace
}  // namespace bzzz::p2p::dht
