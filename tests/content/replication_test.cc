// content/replication: placement, and replicators on real hosts on loopback, each with
// a store of its own: a put that waits for its copies, repair rounds that bring every
// pinned blob to its responsible nodes and drop the surplus, repair after a node goes,
// a full node skipped, the replicas of a blob, and a scrub that fetches a damaged
// replica again.
#include "content/replication/replicator.h"

#include <filesystem>
#include <random>

#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include "base/crypto/blake3.h"
#include "base/fs/file.h"
#include "content/replication/placement.h"
#include "content/content_fixture.h"
#include "p2p/host_fixture.h"
#include "support/temp_dir.h"

namespace bzzz::replication {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using p2p::testing::addr_of;
using p2p::testing::eventually;
using p2p::testing::Loop;
using p2p::testing::make_host;

using bzzz::testing::random_bytes;

Hash text_hash(std::string_view s) {
  return blake3(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

TEST(PlacementTest, RanksByXorDistanceToTheBlob) {
  std::vector<p2p::PeerId> peers;
  for (int i = 0; i < 8; ++i) peers.push_back(p2p::PeerId::from_public_key(p2p::PrivateKey::generate().public_key()));
  auto h = text_hash("some blob");
  auto ranked = rank(h, peers);
  ASSERT_EQ(ranked.size(), peers.size());
  const auto target = blob_place(h);
  for (size_t i = 1; i < ranked.size(); ++i) {
    EXPECT_LT(p2p::dht::distance(p2p::dht::kad_id(ranked[i - 1]), target),
              p2p::dht::distance(p2p::dht::kad_id(ranked[i]), target));
  }
  // Order of the candidates does not matter, duplicates are dropped.
  auto shuffled = peers;
  std::reverse(shuffled.begin(), shuffled.end());
  shuffled.push_back(peers[3]);
  EXPECT_EQ(rank(h, shuffled), ranked);
  auto three = responsible(h, peers, 3);
  EXPECT_EQ(three, std::vector<p2p::PeerId>(ranked.begin(), ranked.begin() + 3));
  EXPECT_EQ(responsible(h, {peers[0]}, 3).size(), 1u);
  // The place is the DHT's place of the blob's provider key.
  auto mh = h.multihash();
  EXPECT_EQ(blob_place(h), p2p::dht::kad_id(mh));
}

struct Node {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<p2p::Host> host;
  std::unique_ptr<store::Store> store;
  std::shared_ptr<exchange::Exchange> exchange;
  std::shared_ptr<Replicator> replicator;
  bool stopped = false;

  bool pinned(const Hash& h) const {
    auto m = store->stat(h);
    return m && !m->corrupt && m->pins > 0;
  }
};

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::err);
    root_ = std::filesystem::temp_directory_path() / fmt::format("bzzz-replication-{}-{}", ::getpid(), counter_++);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override {
    for (auto& n : nodes_) stop(*n);
    for (auto& n : nodes_) {
      n->replicator.reset();
      n->exchange.reset();
      n->host.reset();
    }
    loop_.reset();
    nodes_.clear();
    std::filesystem::remove_all(root_);
  }

  // Rounds only when the test asks (the loop's first round is far away).
  static ReplicationOptions manual() {
    ReplicationOptions o;
    o.repair_interval = 1h;
    o.settle_delay = 1h;
    return o;
  }

  Node& node(ReplicationOptions options = manual()) {
    auto n = std::make_unique<Node>();
    n->host = make_host(loop_->io(), {}, n->registry.get());
    n->store = bzzz::testing::open_store(root_ / fmt::format("n{}", nodes_.size()));
    n->exchange = exchange::Exchange::create(*n->host, *n->store, workers_, bzzz::testing::quick_exchange_options(),
                                             n->registry.get());
    n->exchange->start();
    n->replicator = Replicator::create(*n->host, *n->store, *n->exchange, workers_, options, n->registry.get());
    n->replicator->start();
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }
  void mesh() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      for (size_t j = i + 1; j < nodes_.size(); ++j) {
        if (nodes_[i]->stopped || nodes_[j]->stopped) continue;
        auto c = loop_->run(nodes_[i]->host->connect(addr_of(*nodes_[j]->host)));
        ASSERT_TRUE(c) << c.error().message();
      }
    }
    // Identify (and so the protocol lists) settles on both sides.
    for (auto& n : nodes_) {
      if (n->stopped) continue;
      ASSERT_TRUE(eventually([&] {
        size_t identified = 0;
        for (const auto& r : n->host->peer_store().all()) identified += r.identified && r.connections > 0;
        return identified + 1 >= live_count();
      }));
    }
  }
  size_t live_count() const {
    size_t n = 0;
    for (auto& x : nodes_) n += !x->stopped;
    return n;
  }
  void stop(Node& n) {
    if (n.stopped) return;
    n.stopped = true;
    n.replicator->stop();
    n.exchange->stop();
    n.host->stop();
  }
  Hash put_pinned(Node& n, const std::vector<uint8_t>& data) {
    auto put = n.store->put(data);
    EXPECT_TRUE(put) << put.error().message();
    EXPECT_TRUE(n.store->pin(put->hash));
    return put->hash;
  }
  // Who should hold `h`: the factor live nodes closest to it.
  std::vector<p2p::PeerId> expected(const Hash& h, size_t factor = 3) {
    std::vector<p2p::PeerId> live;
    for (auto& n : nodes_) {
      if (!n->stopped) live.push_back(n->host->id());
    }
    return responsible(h, live, factor);
  }
  std::set<p2p::PeerId> holders(const Hash& h) {
    std::set<p2p::PeerId> out;
    for (auto& n : nodes_) {
      if (!n->stopped && n->pinned(h)) out.insert(n->host->id());
    }
    return out;
  }
  // Rounds on every live node until one pass changes nothing.
  void settle(int max_passes = 6) {
    for (int pass = 0; pass < max_passes; ++pass) {
      size_t changes = 0;
      for (auto& n : nodes_) {
        if (n->stopped) continue;
        auto r = loop_->run(n->replicator->repair_now());
        changes += r.pushed + r.dropped;
      }
      if (changes == 0) return;
    }
    ADD_FAILURE() << "replication did not settle in " << max_passes << " passes";
  }

  static inline int counter_ = 0;
  std::filesystem::path root_;
  asio::thread_pool workers_{4};
  std::unique_ptr<Loop> loop_ = std::make_unique<Loop>();
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(ReplicationTest, PutWaitsForItsReplicas) {
  for (int i = 0; i < 4; ++i) node();
  mesh();
  auto data = random_bytes(3 * 1024 * 1024 + 17, 1);
  Hash h = put_pinned(*nodes_[0], data);
  auto held = loop_->run(nodes_[0]->replicator->replicate(h, data.size(), 3));
  ASSERT_TRUE(held) << held.error().message();
  EXPECT_GE(held->size(), 3u);
  // Every responsible node holds it pinned once the call returns (and the origin too).
  for (const auto& p : expected(h)) EXPECT_TRUE(holders(h).count(p)) << p.to_string();
  EXPECT_TRUE(nodes_[0]->pinned(h));
  for (auto& n : nodes_) {
    if (std::find(held->begin(), held->end(), n->host->id()) != held->end()) {
      auto bytes = n->store->read(h);
      ASSERT_TRUE(bytes);
      EXPECT_EQ(*bytes, data);
    }
  }
}

TEST_F(ReplicationTest, AskingForMoreCopiesThanLiveNodesFailsNamingThem) {
  node();
  node();
  mesh();
  auto data = random_bytes(1000, 2);
  Hash h = put_pinned(*nodes_[0], data);
  auto held = loop_->run(nodes_[0]->replicator->replicate(h, data.size(), 3));
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(held.error().message().find("only 2 of the 3 copies"), std::string::npos) << held.error().message();
  // What could be done was done: the other node holds it.
  EXPECT_EQ(holders(h).size(), 2u);
}

TEST_F(ReplicationTest, RepairPlacesEveryBlobOnItsResponsibleNodesAndDropsTheSurplus) {
  for (int i = 0; i < 5; ++i) node();
  mesh();
  std::vector<Hash> blobs;
  for (uint32_t i = 0; i < 24; ++i) blobs.push_back(put_pinned(*nodes_[i % 2], random_bytes(20000 + i * 1000, 10 + i)));
  settle();
  for (const auto& h : blobs) {
    auto want = expected(h);
    EXPECT_EQ(holders(h), std::set<p2p::PeerId>(want.begin(), want.end())) << h.hex();
  }
  auto st = nodes_[0]->replicator->status();
  EXPECT_EQ(st.under_replicated, 0u);
  EXPECT_EQ(st.live_nodes, 5u);
  EXPECT_GE(st.rounds, 1u);
}

TEST_F(ReplicationTest, RepairAfterANodeGoes) {
  for (int i = 0; i < 5; ++i) node();
  mesh();
  std::vector<Hash> blobs;
  for (uint32_t i = 0; i < 12; ++i) blobs.push_back(put_pinned(*nodes_[0], random_bytes(5000 + i, 100 + i)));
  settle();
  // The node responsible for the most blobs goes.
  std::map<p2p::PeerId, int> load;
  for (const auto& h : blobs) {
    for (const auto& p : expected(h)) ++load[p];
  }
  auto victim = std::max_element(load.begin(), load.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
  for (auto& n : nodes_) {
    if (n->host->id() == victim) stop(*n);
  }
  ASSERT_TRUE(eventually([&] {
    for (auto& n : nodes_) {
      if (!n->stopped && n->host->connection(victim)) return false;
    }
    return true;
  }));
  settle();
  for (const auto& h : blobs) {
    auto want = expected(h);
    ASSERT_EQ(want.size(), 3u);
    EXPECT_EQ(holders(h), std::set<p2p::PeerId>(want.begin(), want.end())) << h.hex();
  }
}

TEST_F(ReplicationTest, AFullNodeIsSkipped) {
  auto tiny = manual();
  tiny.capacity = 1;  // full once it holds anything
  for (int i = 0; i < 3; ++i) node();
  Node& small = node(tiny);
  auto filler = small.store->put(random_bytes(100, 7));
  ASSERT_TRUE(filler);
  mesh();
  loop_->run(small.replicator->repair_now());  // learns its own use
  ASSERT_TRUE(small.replicator->full());
  std::vector<Hash> blobs;
  for (uint32_t i = 0; i < 10; ++i) blobs.push_back(put_pinned(*nodes_[0], random_bytes(3000 + i, 200 + i)));
  settle();
  for (const auto& h : blobs) {
    EXPECT_FALSE(small.pinned(h)) << h.hex();
    // The three others hold it: the full node's place went to the next closest.
    EXPECT_EQ(holders(h).size(), 3u) << h.hex();
  }
  // Asking it directly is refused as full.
  auto data = random_bytes(5000, 300);
  Hash h = put_pinned(*nodes_[0], data);
  std::vector<Hash> hashes{h};
  std::vector<uint64_t> sizes{data.size()};
  auto asked = loop_->run(nodes_[0]->exchange->ask_store(small.host->id(), hashes, sizes, true, true));
  ASSERT_FALSE(asked);
  EXPECT_EQ(asked.error().code(), ErrorCode::kNoSpace);
}

TEST_F(ReplicationTest, ReplicasOfABlob) {
  for (int i = 0; i < 4; ++i) node();
  mesh();
  auto data = random_bytes(40000, 5);
  Hash h = put_pinned(*nodes_[1], data);
  settle();
  auto r = loop_->run(nodes_[3]->replicator->replicas(h));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->factor, 3u);
  EXPECT_EQ(r->live_nodes, 4u);
  EXPECT_EQ(r->responsible, expected(h));
  EXPECT_EQ(r->replicas, 3u);
  // Replicas are on the responsible nodes; the origin may keep an unpinned (cached)
  // copy until gc, if it is not one of them.
  for (const auto& c : r->copies) {
    EXPECT_EQ(c.pinned, c.responsible) << c.peer.to_string();
    if (!c.pinned) {
      EXPECT_EQ(c.peer, nodes_[1]->host->id());
    }
  }
  auto none = loop_->run(nodes_[3]->replicator->replicas(text_hash("nobody has this")));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->replicas, 0u);
  EXPECT_TRUE(none->copies.empty());
}

TEST_F(ReplicationTest, ScrubFetchesADamagedReplicaAgain) {
  for (int i = 0; i < 3; ++i) node();
  mesh();
  auto data = random_bytes(3 * 1024 * 1024, 9);
  Hash h = put_pinned(*nodes_[0], data);
  auto held = loop_->run(nodes_[0]->replicator->replicate(h, data.size(), 3));
  ASSERT_TRUE(held) << held.error().message();
  // Damage node 1's copy on disk (one byte in its second piece).
  Node& damaged = *nodes_[1];
  auto path = damaged.store->blob_path(h);
  {
    auto f = fs::File::open(path, O_RDWR);
    ASSERT_TRUE(f) << f.error().message();
    std::vector<uint8_t> b(1);
    ASSERT_TRUE(f->pread_exact(b, 1500000));
    b[0] ^= 0x01;
    ASSERT_TRUE(f->pwrite_all(b, 1500000));
  }
  damaged.store->forget_tree(h);
  auto report = loop_->run(damaged.replicator->scrub());
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->bad, 1u);
  EXPECT_EQ(report->repaired, 1u) << (report->failed.empty() ? "" : report->failed.front());
  auto bytes = damaged.store->read(h);
  ASSERT_TRUE(bytes) << bytes.error().message();
  EXPECT_EQ(*bytes, data);
  EXPECT_TRUE(damaged.pinned(h));  // still a replica
  auto again = damaged.store->verify();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->clean());
}

}  // namespace
}  // namespace bzzz::replication
