// content/routing: real hosts on loopback in one process, each with a store, an
// exchange, a DHT and a router: a blob held by A is found through the DHT and fetched
// by C, which then announces it too; a blob a peer asked C to hold is announced; a
// reprovide round announces every held blob, and a blob gc removed is not reprovided
// (its records expire); without a DHT, HAVE to connected peers finds providers.
#include "content/routing/router.h"

#include <filesystem>
#include <random>

#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include "base/crypto/blake3.h"
#include "content/content_fixture.h"
#include "p2p/dht_fixture.h"
#include "support/temp_dir.h"

namespace bzzz::routing {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using p2p::testing::addr_of;
using p2p::testing::eventually;
using p2p::testing::Loop;
using p2p::testing::make_host;
using p2p::dht::testing::metric;

using bzzz::testing::random_bytes;

p2p::dht::Bytes key_of(const Hash& h) {
  auto mh = h.multihash();
  return p2p::dht::Bytes(mh.begin(), mh.end());
}

struct Node {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<p2p::Host> host;
  std::unique_ptr<store::Store> store;
  std::shared_ptr<exchange::Exchange> exchange;
  std::shared_ptr<p2p::dht::Dht> dht;  // null: no DHT
  std::shared_ptr<ContentRouter> router;
};

class RoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::err);
    root_ = std::filesystem::temp_directory_path() / fmt::format("bzzz-routing-{}-{}", ::getpid(), counter_++);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override {
    // Hosts go while their loop still runs; stores after the loop and the workers.
    for (auto& n : nodes_) {
      n->router->stop();
      n->exchange->stop();
      if (n->dht) n->dht->stop();
      n->host->stop();
      n->router.reset();
      n->exchange.reset();
      n->dht.reset();
      n->host.reset();
    }
    loop_.reset();
    workers_.join();
    nodes_.clear();
    std::filesystem::remove_all(root_);
  }

  static RouterOptions fast() {
    RouterOptions o;
    o.reprovide_delay = 1h;  // rounds only when a test asks, unless it sets these
    o.tick = 50ms;
    o.have_timeout = 1s;
    return o;
  }
  static p2p::dht::DhtOptions dht_options() {
    auto o = p2p::dht::testing::test_options();
    o.request_timeout = 3s;
    return o;
  }

  Node& node(bool with_dht = true, RouterOptions ro = fast(), p2p::dht::DhtOptions dho = dht_options()) {
    auto n = std::make_unique<Node>();
    n->host = make_host(loop_->io(), {}, n->registry.get());
    n->store = bzzz::testing::open_store(root_ / fmt::format("n{}", nodes_.size()));
    n->exchange = exchange::Exchange::create(*n->host, *n->store, workers_, bzzz::testing::quick_exchange_options(),
                                             n->registry.get());
    n->exchange->start();
    if (with_dht) {
      n->dht = p2p::dht::Dht::create(*n->host, dho, n->registry.get());
      EXPECT_TRUE(n->dht->start());
    }
    n->router = ContentRouter::create(*n->host, *n->store, workers_, n->exchange, n->dht, ro, n->registry.get());
    n->router->start();
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  // a dials b; with DHTs, each enters the other's routing table.
  void connect(Node& a, Node& b) {
    auto c = loop_->run(a.host->connect(addr_of(*b.host)));
    ASSERT_TRUE(c) << c.error().message();
    if (a.dht && b.dht) {
      ASSERT_TRUE(eventually([&] {
        return p2p::dht::testing::in_table(*a.dht, b.host->id()) && p2p::dht::testing::in_table(*b.dht, a.host->id());
      }, 10s));
    }
  }

  // Every announcement queued on `n` has been provided.
  static bool settled(const Node& n) {
    auto s = n.router->stats();
    return s.queued == 0 && s.in_flight == 0 && !s.round_running;
  }

  std::vector<p2p::PeerId> providers(Node& asking, const Hash& h) {
    auto found = loop_->run(asking.dht->find_providers(key_of(h), 0));
    EXPECT_TRUE(found) << found.error().message();
    std::vector<p2p::PeerId> out;
    if (found) {
      for (auto& p : *found) out.push_back(p.id);
    }
    return out;
  }
  static bool has(const std::vector<p2p::PeerId>& peers, const p2p::PeerId& p) {
    return std::find(peers.begin(), peers.end(), p) != peers.end();
  }

  static inline int counter_ = 0;
  std::filesystem::path root_;
  asio::thread_pool workers_{4};
  std::unique_ptr<Loop> loop_ = std::make_unique<Loop>();
  std::vector<std::unique_ptr<Node>> nodes_;
};

// A - B - C: C is not connected to A and learns of it through the DHT.
TEST_F(RoutingTest, FetchesThroughDhtProvidersAndAnnouncesWhatItFetched) {
  Node& a = node();
  Node& b = node();
  Node& c = node();
  connect(a, b);
  connect(b, c);
  auto data = random_bytes(5 * kPieceBytes + 123, 1);
  auto put = a.store->put(data);
  ASSERT_TRUE(put);
  a.router->announce(put->hash);
  ASSERT_TRUE(eventually([&] { return settled(a); }, 10s));
  EXPECT_EQ(a.router->stats().provided, 1u);
  EXPECT_EQ(metric(*a.registry, "bzzz_routing_provides_total", {{"result", "ok"}}), 1);
  // The provide reached C by a connection from A: closed, so C must look A up.
  c.host->disconnect(a.host->id());
  ASSERT_TRUE(eventually([&] {
    auto rec = c.host->peer_store().get(a.host->id());
    return c.host->connection(a.host->id()) == nullptr && rec && rec->connections == 0;
  }));

  auto found = loop_->run(c.router->find(put->hash, 0, false));
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_TRUE(found->dht);
  EXPECT_EQ(found->asked, 1u);  // B, which denied it
  ASSERT_EQ(found->providers.size(), 1u);
  EXPECT_EQ(found->providers[0], a.host->id());

  auto got = loop_->run(c.router->fetch(put->hash, {}));
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got->served_by.size(), 1u);
  EXPECT_EQ(got->served_by[0], a.host->id());
  EXPECT_EQ(*c.store->read(put->hash), data);
  EXPECT_EQ(c.store->stat(put->hash)->pins, 0u);  // cached, not pinned

  // C announced what it fetched: a lookup from B finds both.
  ASSERT_TRUE(eventually([&] { return settled(c) && c.router->stats().provided == 1; }, 10s));
  auto both = providers(b, put->hash);
  EXPECT_TRUE(has(both, a.host->id()));
  EXPECT_TRUE(has(both, c.host->id()));
  EXPECT_EQ(metric(*c.registry, "bzzz_routing_lookups_total", {{"result", "found"}}), 2);

  // Found now by HAVE too: C is connected to A, and both hold it.
  auto again = loop_->run(b.router->find(put->hash, 0, true));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->size, data.size());
  EXPECT_EQ(again->providers.size(), 2u);

  // Nobody has it: the error names the hash and what was asked.
  Hash missing = blake3(random_bytes(100, 2));
  auto none = loop_->run(c.router->fetch(missing, {}));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(none.error().message(), fmt::format("no provider of {} was found (asked 2 connected peers and the DHT)",
                                                missing.hex()));
  EXPECT_EQ(metric(*c.registry, "bzzz_routing_lookups_total", {{"result", "not_found"}}), 1);
}

// A blob fetched because a peer asked us to hold it (STORE) is announced.
TEST_F(RoutingTest, BlobsStoredForAPeerAreAnnounced) {
  Node& a = node();
  Node& b = node();
  Node& c = node();
  connect(a, b);
  connect(b, c);
  connect(a, c);
  auto data = random_bytes(2 * kPieceBytes + 9, 3);
  auto put = a.store->put(data);
  ASSERT_TRUE(put);
  std::vector<Hash> hashes{put->hash};
  std::vector<uint64_t> sizes{data.size()};
  auto stored = loop_->run(a.exchange->ask_store(c.host->id(), hashes, sizes, true, true));
  ASSERT_TRUE(stored) << stored.error().message();
  ASSERT_EQ(*stored, std::vector<bool>{true});
  ASSERT_TRUE(eventually([&] { return settled(c) && c.router->stats().provided == 1; }, 10s));
  EXPECT_TRUE(has(providers(b, put->hash), c.host->id()));
}

// A reprovide round queues every blob held; after gc, the removed blob is left out and
// its records expire, while the loop keeps the others announced.
TEST_F(RoutingTest, ReprovideAnnouncesHeldBlobsAndDropsCollectedOnes) {
  auto dho = dht_options();
  dho.provider_ttl = 2s;  // at every node: others' entries and our unkept ones
  dho.purge_interval = 100ms;
  Node& a = node(true, fast(), dho);
  Node& b = node(true, fast(), dho);
  Node& c = node(true, fast(), dho);
  connect(a, b);
  connect(b, c);
  std::vector<Hash> held;
  for (uint32_t i = 0; i < 5; ++i) {
    auto put = a.store->put(random_bytes(1000 + i * 20000, 10 + i));  // packed and file blobs
    ASSERT_TRUE(put);
    held.push_back(put->hash);
  }
  auto round = loop_->run(a.router->reprovide());
  ASSERT_TRUE(round) << round.error().message();
  ASSERT_TRUE(eventually([&] { return settled(a); }, 10s));
  auto s = a.router->stats();
  EXPECT_EQ(s.rounds, 1u);
  EXPECT_EQ(s.round_blobs, 5u);
  EXPECT_EQ(s.round_provided, 5u);
  EXPECT_TRUE(s.round_started.has_value());
  for (const auto& h : held) EXPECT_TRUE(has(providers(c, h), a.host->id())) << h.hex();

  // Keep four (pinned), collect the fifth.
  for (size_t i = 0; i < 4; ++i) ASSERT_TRUE(a.store->pin(held[i]));
  store::GcOptions gc;
  gc.grace = std::chrono::nanoseconds(0);
  auto report = a.store->gc(gc);
  ASSERT_TRUE(report) << report.error().message();
  ASSERT_EQ(report->removed, 1u);
  ASSERT_TRUE(loop_->run(a.router->reprovide()));
  ASSERT_TRUE(eventually([&] { return settled(a); }, 10s));
  EXPECT_EQ(a.router->stats().rounds, 2u);
  EXPECT_EQ(a.router->stats().round_blobs, 4u);

  // The loop, sped up, keeps the four announced; the fifth's records lapse everywhere.
  auto ro = fast();
  ro.reprovide_delay = 0ms;
  ro.reprovide_interval = 500ms;
  a.router->stop();
  a.router = ContentRouter::create(*a.host, *a.store, workers_, a.exchange, a.dht, ro, nullptr);
  a.router->start();
  EXPECT_TRUE(eventually([&] { return providers(c, held[4]).empty(); }, 10s));
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(has(providers(c, held[i]), a.host->id())) << i;
  EXPECT_GE(a.router->stats().rounds, 2u);
}

// A node alone: the announcement reached no one, so an early round runs as soon as the
// DHT knows a peer.
TEST_F(RoutingTest, AnnouncementsMadeAloneAreRepeatedOnceAPeerIsKnown) {
  Node& a = node();  // first round due in an hour
  auto put = a.store->put(random_bytes(500, 4));
  ASSERT_TRUE(put);
  a.router->announce(put->hash);
  ASSERT_TRUE(eventually([&] { return settled(a) && a.router->stats().unsent == 1; }, 10s));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(a.router->stats().rounds, 0u);  // nobody to announce to
  Node& b = node();
  connect(a, b);
  ASSERT_TRUE(eventually([&] { return a.router->stats().rounds >= 1 && settled(a); }, 10s));
  EXPECT_EQ(a.router->stats().round_provided, 1u);
  EXPECT_TRUE(has(providers(b, put->hash), a.host->id()));
}

// Without a DHT: connected peers are asked by HAVE; announcing does nothing.
TEST_F(RoutingTest, FindsByHaveWithoutADht) {
  Node& a = node(false);
  Node& b = node(false);
  Node& c = node(false);
  connect(c, a);
  connect(c, b);
  auto data = random_bytes(3 * kPieceBytes + 1, 5);
  auto put = a.store->put(data);
  ASSERT_TRUE(put);
  auto found = loop_->run(c.router->find(put->hash, 0, true));
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_FALSE(found->dht);
  EXPECT_EQ(found->asked, 2u);
  ASSERT_EQ(found->providers.size(), 1u);
  EXPECT_EQ(found->providers[0], a.host->id());
  EXPECT_EQ(found->size, data.size());

  auto got = loop_->run(c.router->fetch(put->hash, {true}));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(c.store->stat(put->hash)->pins, 1u);
  auto s = c.router->stats();
  EXPECT_FALSE(s.announcing);
  EXPECT_EQ(s.queued + s.in_flight + s.provided, 0u);

  Hash missing = blake3(random_bytes(10, 6));
  auto none = loop_->run(c.router->fetch(missing, {}));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(none.error().message().find("asked 2 connected peers; this node has no DHT"), std::string::npos)
      << none.error().message();
}

}  // namespace
}  // namespace bzzz::routing
