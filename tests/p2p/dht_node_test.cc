// A few DHT nodes in one process on loopback: FIND_NODE, PUT/GET, providers, several
// requests on one stream, persistence across a restart, client mode, timeouts, and bad
// input rejected (counted) while the node keeps serving.
#include <gtest/gtest.h>

#include "p2p/dht_fixture.h"
#include "support/temp_dir.h"

namespace bzzz::p2p::dht {
namespace {

using namespace testing;

// a - b - c: a learns of c through b.
struct Line : ::testing::Test {
  Cluster cluster;
  Loop& loop = cluster.loop;
  Node a, b, c;
  void SetUp() override {
    a = cluster.make_node();
    b = cluster.make_node();
    c = cluster.make_node();
    connect(loop, a, b);
    connect(loop, b, c);
  }
  void TearDown() override {
    for (Node* n : {&a, &b, &c}) n->stop();
  }
};

TEST_F(Line, FindNodeAndFindPeer) {
  EXPECT_FALSE(in_table(*a.dht, c.host->id()));
  auto addrs = loop.run(a.dht->find_peer(c.host->id()));
  ASSERT_TRUE(addrs) << addrs.error().message();
  EXPECT_EQ(*addrs, c.host->listen_addrs());
  auto stats = a.dht->last_lookup();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->hops, 1);  // b (depth 1) named c

  auto closest = loop.run(a.dht->closest_peers(c.host->id().bytes()));
  ASSERT_TRUE(closest) << closest.error().message();
  ASSERT_EQ(closest->size(), 2u);  // b, and c, which a then asked too
  EXPECT_EQ(closest->front(), c.host->id());
  EXPECT_TRUE(eventually([&] { return in_table(*a.dht, c.host->id()); }));
  EXPECT_GE(metric(*a.registry, "bzzz_dht_requests_total", {{"type", "FIND_NODE"}, {"direction", "out"}}), 2);
  EXPECT_GE(metric(*b.registry, "bzzz_dht_requests_total", {{"type", "FIND_NODE"}, {"direction", "in"}}), 1);
  EXPECT_EQ(metric(*a.registry, "bzzz_dht_lookup_seconds"), 2);
  EXPECT_EQ(metric(*a.registry, "bzzz_dht_routing_table_peers"), 2);
  auto listing = a.dht->routing_table();
  ASSERT_EQ(listing.size(), 2u);
  for (const auto& p : listing) EXPECT_FALSE(p.addrs.empty());

  auto nobody = loop.run(a.dht->find_peer(PeerId::from_public_key(PrivateKey::generate().public_key())));
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().code(), ErrorCode::kNotFound);
}

TEST_F(Line, PutAndGetSignedRecords) {
  auto key = PrivateKey::generate();
  std::string k = bzzz_key(PeerId::from_public_key(key.public_key()), "agent");
  Bytes v1 = make_bzzz_record(key, "agent", to_bytes("one"), 1);
  auto put = loop.run(a.dht->put_value(k, v1));
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_EQ(*put, 2u);  // b and c accepted
  EXPECT_EQ(b.dht->record_count(), 1u);
  EXPECT_EQ(metric(*c.registry, "bzzz_dht_records"), 1);

  auto got = loop.run(c.dht->get_value(k));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, v1);

  // A newer value put through c replaces it everywhere; an older one is refused.
  Bytes v2 = make_bzzz_record(key, "agent", to_bytes("two"), 2);
  auto put2 = loop.run(c.dht->put_value(k, v2));
  ASSERT_TRUE(put2) << put2.error().message();
  EXPECT_EQ(*put2, 2u);
  auto back = loop.run(c.dht->put_value(k, v1));
  EXPECT_FALSE(back);
  auto got2 = loop.run(a.dht->get_value(k));
  ASSERT_TRUE(got2) << got2.error().message();
  EXPECT_EQ(decode_bzzz_record(*got2)->seq, 2u);

  // /pk/: b answers with its own key, which validates.
  auto pk = loop.run(a.dht->get_value(pk_key(b.host->id())));
  ASSERT_TRUE(pk) << pk.error().message();
  EXPECT_EQ(*pk, b.host->public_key().encode());

  auto none = loop.run(a.dht->get_value(bzzz_key(b.host->id(), "nothing")));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
  auto foreign = loop.run(a.dht->get_value("/ipns/x"));
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code(), ErrorCode::kInvalidArgument);
  auto unsigned_put = loop.run(a.dht->put_value(k, to_bytes("not a record")));
  EXPECT_FALSE(unsigned_put);
}

// A peer holding an outdated value is sent the best one after a get.
TEST_F(Line, GetCorrectsOutdatedPeers) {
  auto key = PrivateKey::generate();
  std::string k = bzzz_key(PeerId::from_public_key(key.public_key()), "x");
  Bytes v1 = make_bzzz_record(key, "x", to_bytes("1"), 1);
  Bytes v2 = make_bzzz_record(key, "x", to_bytes("2"), 2);
  ASSERT_TRUE(loop.run(a.dht->put_value(k, v1)));
  // c alone gets v2 (sent straight to it).
  auto s = loop.run(open_kad(b.host, c.host->id()));
  ASSERT_TRUE(s) << s.error().message();
  Message put{MessageType::kPutValue, to_bytes(k), Record{to_bytes(k), v2, {}}, {}, {}, 0};
  auto echo = loop.run(send_raw(*s, frame_of(put), true));
  ASSERT_TRUE(echo) << echo.error().message();
  auto got = loop.run(a.dht->get_value(k));
  ASSERT_TRUE(got);
  EXPECT_EQ(decode_bzzz_record(*got)->seq, 2u);
  // b held v1 and is corrected in the background.
  EXPECT_TRUE(eventually([&] {
    auto q = loop.run(open_kad(c.host, b.host->id()));
    if (!q) return false;
    Message get{MessageType::kGetValue, to_bytes(k), {}, {}, {}, 0};
    auto r = loop.run(send_raw(*q, frame_of(get), true));
    return r && *r && (*r)->record && decode_bzzz_record((*r)->record->value)->seq == 2u;
  }));
}

TEST_F(Line, ProvidersAreFound) {
  Bytes key = multihash_of("some content");
  auto sent = loop.run(a.dht->provide(key));
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, 2u);
  EXPECT_TRUE(eventually([&] { return b.dht->provider_count() == 1 && c.dht->provider_count() == 1; }));

  auto found = loop.run(c.dht->find_providers(key, 1));
  ASSERT_TRUE(found) << found.error().message();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, a.host->id());
  EXPECT_EQ((*found)[0].addrs, a.host->listen_addrs());

  // Found by a node that holds none itself (a fourth, connected to a only).
  Node d = cluster.make_node();
  connect(loop, d, a);
  auto far = loop.run(d.dht->find_providers(key, 5));
  ASSERT_TRUE(far) << far.error().message();
  ASSERT_EQ(far->size(), 1u);
  EXPECT_EQ((*far)[0].id, a.host->id());
  EXPECT_EQ(metric(*d.registry, "bzzz_dht_lookup_hops"), 1);

  auto too_long = loop.run(a.dht->provide(Bytes(81, 1)));
  EXPECT_FALSE(too_long);
  auto none = loop.run(c.dht->find_providers(multihash_of("nobody has this"), 1));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  d.stop();
}

// The responder answers request after request on one stream, in order, and closes its
// side after ours.
TEST_F(Line, SeveralRequestsOnOneStream) {
  auto s = loop.run(open_kad(a.host, b.host->id()));
  ASSERT_TRUE(s) << s.error().message();
  auto key = PrivateKey::generate();
  std::string k = bzzz_key(PeerId::from_public_key(key.public_key()), "n");
  Bytes v = make_bzzz_record(key, "n", to_bytes("v"), 7);

  Message find{MessageType::kFindNode, c.host->id().bytes(), {}, {}, {}, 0};
  auto r1 = loop.run(send_raw(*s, frame_of(find), true));
  ASSERT_TRUE(r1) << r1.error().message();
  ASSERT_TRUE(*r1);
  EXPECT_EQ((*r1)->type, MessageType::kFindNode);
  bool saw_c = false;
  for (auto& p : (*r1)->closer) saw_c = saw_c || p.id == c.host->id();
  EXPECT_TRUE(saw_c);

  Message put{MessageType::kPutValue, to_bytes(k), Record{to_bytes(k), v, {}}, {}, {}, 0};
  auto r2 = loop.run(send_raw(*s, frame_of(put), true));
  ASSERT_TRUE(r2 && *r2);
  ASSERT_TRUE((*r2)->record);
  EXPECT_EQ((*r2)->record->value, v);

  Message add{MessageType::kAddProvider, multihash_of("x"), {}, {}, {PeerInfo{a.host->id(), a.host->listen_addrs(), true}}, 0};
  ASSERT_TRUE(loop.run(send_raw(*s, frame_of(add), false)));

  Message get{MessageType::kGetValue, to_bytes(k), {}, {}, {}, 0};
  auto r3 = loop.run(send_raw(*s, frame_of(get), true));
  ASSERT_TRUE(r3 && *r3);
  ASSERT_TRUE((*r3)->record);
  EXPECT_EQ((*r3)->record->value, v);
  EXPECT_FALSE((*r3)->record->time_received.empty());

  Message providers{MessageType::kGetProviders, multihash_of("x"), {}, {}, {}, 0};
  auto r4 = loop.run(send_raw(*s, frame_of(providers), true));
  ASSERT_TRUE(r4 && *r4);
  ASSERT_EQ((*r4)->providers.size(), 1u);
  EXPECT_EQ((*r4)->providers[0].id, a.host->id());

  Message ping{MessageType::kPing, {}, {}, {}, {}, 0};
  auto r5 = loop.run(send_raw(*s, frame_of(ping), true));
  ASSERT_TRUE(r5 && *r5);
  EXPECT_EQ((*r5)->type, MessageType::kPing);

  (*s)->close_write();
  auto end = loop.run(net::read_length_prefixed(**s, 1024));
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_FALSE(*end);  // the responder's clean FIN
  EXPECT_EQ(metric(*b.registry, "bzzz_dht_requests_total", {{"direction", "in"}}), 6);
}

// Bad input resets the stream, is counted by reason, and the node serves on.
TEST_F(Line, BadInputIsRejectedAndCounted) {
  auto expect_reset = [&](Bytes frame, const std::string& reason) {
    double before = metric(*b.registry, "bzzz_dht_request_errors_total", {{"reason", reason}});
    auto s = loop.run(open_kad(a.host, b.host->id()));
    ASSERT_TRUE(s) << s.error().message();
    auto r = loop.run(send_raw(*s, std::move(frame), true));
    EXPECT_FALSE(r) << reason << ": the stream was answered";
    EXPECT_TRUE(eventually([&] {
      return metric(*b.registry, "bzzz_dht_request_errors_total", {{"reason", reason}}) == before + 1;
    })) << reason;
  };
  // Not protobuf.
  expect_reset(net::length_prefixed(Bytes{0x0f, 0xff, 0xff}), "malformed");
  // Over 64 KiB (only the length prefix needs to arrive).
  Bytes huge = net::length_prefixed(Bytes(70 * 1024, 0));
  expect_reset(huge, "too_large");
  // A type nobody knows.
  expect_reset(net::length_prefixed(Bytes{0x08, 0x2a}), "unknown_type");
  // A signed record whose signature does not verify; an unknown namespace; no record.
  auto key = PrivateKey::generate();
  std::string k = bzzz_key(PeerId::from_public_key(key.public_key()), "n");
  auto rec = *decode_bzzz_record(make_bzzz_record(key, "n", to_bytes("v"), 1));
  rec.signature[5] ^= 0x20;
  Message forged{MessageType::kPutValue, to_bytes(k), Record{to_bytes(k), encode_bzzz_record(rec), {}}, {}, {}, 0};
  expect_reset(frame_of(forged), "invalid_record");
  Message other_ns{MessageType::kPutValue, to_bytes("/ipns/x"), Record{to_bytes("/ipns/x"), {1}, {}}, {}, {}, 0};
  expect_reset(frame_of(other_ns), "invalid_record");
  Message no_record{MessageType::kPutValue, to_bytes(k), {}, {}, {}, 0};
  expect_reset(frame_of(no_record), "bad_record");
  Message long_key{MessageType::kGetProviders, Bytes(81, 7), {}, {}, {}, 0};
  expect_reset(frame_of(long_key), "bad_key");
  EXPECT_EQ(b.dht->record_count(), 0u);

  // Someone else's provider entry is ignored (not stored), not fatal.
  Message foreign{MessageType::kAddProvider, multihash_of("y"), {}, {}, {PeerInfo{c.host->id(), c.host->listen_addrs(), true}}, 0};
  auto s = loop.run(open_kad(a.host, b.host->id()));
  ASSERT_TRUE(s);
  ASSERT_TRUE(loop.run(send_raw(*s, frame_of(foreign), false)));
  Message ping{MessageType::kPing, {}, {}, {}, {}, 0};
  ASSERT_TRUE(loop.run(send_raw(*s, frame_of(ping), true)));
  EXPECT_EQ(b.dht->provider_count(), 0u);
  EXPECT_EQ(metric(*b.registry, "bzzz_dht_request_errors_total", {{"reason", "provider_not_sender"}}), 1);

  // Still serving, and still connected.
  auto addrs = loop.run(a.dht->find_peer(c.host->id()));
  ASSERT_TRUE(addrs) << addrs.error().message();
  EXPECT_TRUE(a.host->connection(b.host->id()));
}

// In a chain a-b-c-d-e each node knows only its neighbours: a finds e through b
// (depth 1), c (2) and d (3), and d is the one that names e.
TEST(DhtNode, HopsAreTheDiscoveryDepth) {
  Cluster cluster;
  Loop& loop = cluster.loop;
  std::vector<Node> chain;
  for (int i = 0; i < 5; ++i) chain.push_back(cluster.make_node());
  for (size_t i = 0; i + 1 < chain.size(); ++i) connect(loop, chain[i], chain[i + 1]);
  auto addrs = loop.run(chain[0].dht->find_peer(chain[4].host->id()));
  ASSERT_TRUE(addrs) << addrs.error().message();
  EXPECT_EQ(*addrs, chain[4].host->listen_addrs());
  auto stats = chain[0].dht->last_lookup();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->hops, 3);
  EXPECT_EQ(stats->queried, 3u);
  for (auto& n : chain) n.stop();
}

// Records and provider entries survive a restart of the DHT on the same directory; our
// own are kept, others' expire.
TEST(DhtNode, PersistsAcrossRestart) {
  bzzz::testing::TempDir dir;
  Cluster cluster;
  Loop& loop = cluster.loop;
  Node peer = cluster.make_node();
  DhtOptions opts = test_options();
  opts.data_dir = dir.sub("dht");
  Node node = cluster.make_node(opts);
  connect(loop, node, peer);
  auto key = PrivateKey::generate();
  std::string mine = bzzz_key(PeerId::from_public_key(key.public_key()), "mine");
  std::string theirs = bzzz_key(PeerId::from_public_key(key.public_key()), "theirs");
  ASSERT_TRUE(loop.run(node.dht->put_value(mine, make_bzzz_record(key, "mine", to_bytes("m"), 1))));
  ASSERT_TRUE(loop.run(peer.dht->put_value(theirs, make_bzzz_record(key, "theirs", to_bytes("t"), 1))));
  Bytes content = multihash_of("restart");
  ASSERT_TRUE(loop.run(node.dht->provide(content)));
  ASSERT_TRUE(loop.run(peer.dht->provide(content)));
  ASSERT_TRUE(eventually([&] { return node.dht->provider_count() == 2; }));
  EXPECT_EQ(node.dht->record_count(), 2u);

  node.dht->stop();
  node.dht->stop();  // twice is fine
  std::weak_ptr<Dht> old = node.dht;
  node.dht.reset();
  ASSERT_TRUE(eventually([&] { return old.expired(); }));

  node.dht = Dht::create(*node.host, opts, nullptr);
  ASSERT_TRUE(node.dht->start());
  EXPECT_EQ(node.dht->record_count(), 2u);
  EXPECT_EQ(node.dht->provider_count(), 2u);
  // Answered from the store (the peer holds "theirs" too; "mine" only we and it do).
  auto got = loop.run(node.dht->get_value(mine));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(decode_bzzz_record(*got)->value, to_bytes("m"));
  auto providers = loop.run(node.dht->find_providers(content, 2));
  ASSERT_TRUE(providers) << providers.error().message();
  EXPECT_EQ(providers->size(), 2u);
  node.stop();

  // With a record TTL of zero, others' entries are expired and purged on open's first
  // purge; our own stay.
  opts.record_ttl = std::chrono::milliseconds(0);
  opts.provider_ttl = std::chrono::milliseconds(0);
  opts.purge_interval = std::chrono::milliseconds(10);
  Node again = cluster.make_node(opts);
  ASSERT_TRUE(eventually([&] { return again.dht->record_count() == 1 && again.dht->provider_count() == 1; }));
  again.stop();
  peer.stop();
}

// The loops: a refresh soon after start finds peers beyond the one we dialed, and our
// own record and provider entry, put while we were alone, reach the peers that joined
// since at the next republish.
TEST(DhtNode, RefreshAndRepublishOnSchedule) {
  Cluster cluster;
  Loop& loop = cluster.loop;
  DhtOptions opts = test_options();
  opts.refresh_initial_delay = 100ms;
  opts.refresh_interval = 200ms;
  opts.republish_interval = 300ms;
  Node a = cluster.make_node(opts);
  auto key = PrivateKey::generate();
  std::string k = bzzz_key(PeerId::from_public_key(key.public_key()), "r");
  auto put = loop.run(a.dht->put_value(k, make_bzzz_record(key, "r", to_bytes("v"), 1)));
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_EQ(*put, 0u);  // alone: stored here only
  auto sent = loop.run(a.dht->provide(multihash_of("republished")));
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, 0u);

  Node b = cluster.make_node();
  Node c = cluster.make_node();
  connect(loop, b, c);
  connect(loop, a, b);
  EXPECT_TRUE(eventually([&] { return in_table(*a.dht, c.host->id()); }, 10s));  // the refresh found c
  EXPECT_TRUE(eventually([&] {
    return b.dht->record_count() == 1 && c.dht->record_count() == 1 && b.dht->provider_count() == 1 &&
           c.dht->provider_count() == 1;
  }, 10s));
  for (Node* n : {&a, &b, &c}) n->stop();
}

// provide() with keep = false: the entry here expires after provider_ttl like anyone's
// and the republish loop does not resend it (content routing reprovides on its own
// schedule); an entry kept already stays kept.
TEST(DhtNode, ProvideWithoutKeepExpires) {
  Cluster cluster;
  Loop& loop = cluster.loop;
  DhtOptions opts = test_options();
  opts.republish_interval = 300ms;
  opts.provider_ttl = 1500ms;
  opts.purge_interval = 100ms;
  Node a = cluster.make_node(opts);
  Bytes kept = multihash_of("kept");
  Bytes passing = multihash_of("passing");
  ASSERT_TRUE(loop.run(a.dht->provide(kept)));
  ASSERT_TRUE(loop.run(a.dht->provide(kept, ProvideOptions{.keep = false})));  // stays kept
  ASSERT_TRUE(loop.run(a.dht->provide(passing, ProvideOptions{.keep = false})));
  EXPECT_EQ(a.dht->provider_count(), 2u);

  Node b = cluster.make_node();
  connect(loop, a, b);
  // The republish reaches b with the kept entry only.
  EXPECT_TRUE(eventually([&] { return b.dht->provider_count() == 1; }, 10s));
  std::this_thread::sleep_for(700ms);  // two more republish rounds
  EXPECT_EQ(b.dht->provider_count(), 1u);
  auto at_b = loop.run(b.dht->find_providers(kept, 0));
  ASSERT_TRUE(at_b) << at_b.error().message();
  ASSERT_EQ(at_b->size(), 1u);
  EXPECT_EQ(at_b->front().id, a.host->id());

  // Past provider_ttl the passing entry is gone from a: purged, and no longer found.
  EXPECT_TRUE(eventually([&] { return a.dht->provider_count() == 1; }, 5s));
  auto gone = loop.run(b.dht->find_providers(passing, 0));
  ASSERT_TRUE(gone) << gone.error().message();
  EXPECT_TRUE(gone->empty());
  auto still = loop.run(a.dht->find_providers(kept, 0));
  ASSERT_TRUE(still) << still.error().message();
  EXPECT_EQ(still->size(), 1u);
  a.stop();
  b.stop();
}

// A client asks but does not serve: it is in no one's table, and its identify does not
// list the protocol.
TEST(DhtNode, ClientMode) {
  Cluster cluster;
  Loop& loop = cluster.loop;
  Node server = cluster.make_node();
  DhtOptions copts = test_options();
  copts.server_mode = false;
  Node client = cluster.make_node(copts);
  connect(loop, client, server);
  auto protocols = client.host->protocols();
  EXPECT_EQ(std::find(protocols.begin(), protocols.end(), std::string(kBzzzKadProtocol)), protocols.end());
  EXPECT_TRUE(in_table(*client.dht, server.host->id()));
  EXPECT_FALSE(in_table(*server.dht, client.host->id()));
  auto key = PrivateKey::generate();
  std::string k = bzzz_key(PeerId::from_public_key(key.public_key()), "c");
  auto put = loop.run(client.dht->put_value(k, make_bzzz_record(key, "c", to_bytes("v"), 1)));
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_EQ(*put, 1u);
  EXPECT_FALSE(in_table(*server.dht, client.host->id()));
  auto s = loop.run(open_kad(server.host, client.host->id()));
  EXPECT_FALSE(s);  // "na"
  client.stop();
  server.stop();
}

// A peer that lists the protocol but never answers: requests time out, it is counted
// and dropped from the table, and the lookup ends.
TEST(DhtNode, SilentPeerTimesOutAndIsDropped) {
  Cluster cluster;
  Loop& loop = cluster.loop;
  auto silent = make_host(loop.io());
  silent->handle(std::string(kBzzzKadProtocol), [](std::shared_ptr<net::Stream> s) -> boost::asio::awaitable<void> {
    std::array<uint8_t, 256> buf;
    std::span<uint8_t> span(buf);
    for (;;) {
      auto n = co_await s->read_some(span);
      if (!n || *n == 0) co_return;
    }
  });
  DhtOptions opts = test_options();
  opts.request_timeout = 300ms;
  opts.max_failures = 1;
  Node node = cluster.make_node(opts);
  auto c = loop.run(node.host->connect(addr_of(*silent)));
  ASSERT_TRUE(c);
  ASSERT_TRUE(eventually([&] { return in_table(*node.dht, silent->id()); }));
  auto t0 = std::chrono::steady_clock::now();
  auto r = loop.run(node.dht->closest_peers(to_bytes("anything")));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(metric(*node.registry, "bzzz_dht_request_errors_total", {{"reason", "timeout"}}), 1);
  EXPECT_FALSE(in_table(*node.dht, silent->id()));
  EXPECT_EQ(node.dht->last_lookup()->failed, 1u);
  node.stop();
  silent->stop();
}

}  // namespace
}  // namespace bzzz::p2p::dht
