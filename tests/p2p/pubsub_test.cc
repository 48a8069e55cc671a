// Gossipsub: the wire checks as pure functions, the caches, and routers on real hosts
// in one process (loopback, Noise, yamux): delivery exactly once, meshes, validators,
// gossip repair, and peers that send garbage, forgeries and GRAFT floods.
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <fmt/format.h>
#include <prometheus/registry.h>

#include "infra/metrics/metrics.h"
#include "p2p/pubsub_fixture.h"
#include "p2p/pubsub/caches.h"
#include "p2p/pubsub/router.h"
#include "p2p/pubsub/wire.h"

namespace bzzz::p2p::pubsub {
namespace {

using namespace std::chrono_literals;
using namespace testing;

// --- wire ------------------------------------------------------------------------

TEST(PubsubWire, SignedMessageChecksAndIdIsFromThenSeqno) {
  auto key = PrivateKey::generate();
  auto data = bytes_of("hello");
  auto msg = sign_message(key, "t", data, 0x0102030405060708ull);
  EXPECT_EQ(msg.seqno().size(), 8u);
  EXPECT_EQ(static_cast<uint8_t>(msg.seqno()[0]), 0x01);
  auto checked = check_message(msg);
  ASSERT_TRUE(checked) << checked.error().message();
  auto id = PeerId::from_public_key(key.public_key());
  EXPECT_EQ(checked->from, id);
  EXPECT_EQ(checked->seqno, 0x0102030405060708ull);
  EXPECT_EQ(checked->id, message_id(id, 0x0102030405060708ull));
  EXPECT_EQ(checked->id.substr(0, id.bytes().size()), std::string(id.bytes().begin(), id.bytes().end()));
}

TEST(PubsubWire, ForgeriesAreRejectedWithTheirReason) {
  auto key = PrivateKey::generate();
  auto good = sign_message(key, "t", bytes_of("hello"), 7);
  auto expect_reason = [](const pb::Message& m, std::string_view reason) {
    auto r = check_message(m);
    ASSERT_FALSE(r);
    EXPECT_EQ(reason_label(r.error()), reason) << r.error().message();
  };
  auto m = good;
  m.set_data("hellp");
  expect_reason(m, "bad_signature");
  m = good;
  m.set_seqno(std::string(7, '\0'));
  expect_reason(m, "bad_seqno");
  m = good;
  m.clear_seqno();
  expect_reason(m, "bad_seqno");
  m = good;
  m.clear_signature();
  expect_reason(m, "no_signature");
  m = good;
  m.set_from("garbage");
  expect_reason(m, "bad_from");
  m = good;
  auto other = PrivateKey::generate().public_key().encode();
  m.set_key(std::string(other.begin(), other.end()));
  expect_reason(m, "key_mismatch");
  m = good;
  m.set_key("xx");
  expect_reason(m, "bad_key");
  m = good;
  m.clear_topic();
  expect_reason(m, "no_topic");
  // Without the key field the id's embedded Ed25519 key verifies.
  m = good;
  m.clear_key();
  EXPECT_TRUE(check_message(m));
  // Signed by another key under our id.
  auto forged = sign_message(PrivateKey::generate(), "t", bytes_of("hello"), 7);
  forged.set_from(good.from());
  forged.clear_key();
  expect_reason(forged, "bad_signature");
}

TEST(PubsubWire, JsMessageIdsMapToOursAndBack) {
  auto key = PrivateKey::generate();
  auto msg = sign_message(key, "t", bytes_of("x"), 9);
  auto ours = message_id(PeerId::from_public_key(key.public_key()), 9);
  auto js = js_message_id(ours, msg);
  // js: the PublicKey protobuf (08 01 12 20 <32 bytes>) then the seqno.
  auto proto = key.public_key().encode();
  EXPECT_EQ(js.substr(0, proto.size()), std::string(proto.begin(), proto.end()));
  EXPECT_EQ(js.size(), proto.size() + 8);
  EXPECT_EQ(canonical_id(js), ours);
  EXPECT_EQ(canonical_id(ours), ours);
  msg.clear_key();  // an identity peer id embeds the key
  EXPECT_EQ(js_message_id(ours, msg), js);
  EXPECT_EQ(canonical_id("\x08garbage-not-a-key"), "\x08garbage-not-a-key");
}

TEST(PubsubWire, RpcRoundTripAndMalformedBytes) {
  pb::RPC rpc;
  auto* sub = rpc.add_subscriptions();
  sub->set_subscribe(true);
  sub->set_topicid("a");
  rpc.mutable_control()->add_graft()->set_topicid("a");
  auto framed = encode_rpc(rpc);
  ASSERT_GT(framed.size(), 1u);
  std::span<const uint8_t> body(framed.data() + 1, framed.size() - 1);
  auto back = decode_rpc(body);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->subscriptions(0).topicid(), "a");
  EXPECT_EQ(back->control().graft(0).topicid(), "a");
  std::vector<uint8_t> garbage = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12};
  EXPECT_FALSE(decode_rpc(garbage));
}

TEST(PubsubCaches, SeenExpiresAndMessageCacheShifts) {
  SeenCache seen(100ms);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(seen.add("a", t0));
  EXPECT_FALSE(seen.add("a", t0));
  seen.expire(t0 + 50ms);
  EXPECT_TRUE(seen.contains("a"));
  seen.expire(t0 + 150ms);
  EXPECT_FALSE(seen.contains("a"));

  MessageCache mc(3, 2);
  pb::Message m;
  m.set_topic("t");
  mc.put("1", m);
  EXPECT_EQ(mc.gossip_ids("t").size(), 1u);
  mc.shift();
  mc.put("2", m);
  EXPECT_EQ(mc.gossip_ids("t").size(), 2u);
  mc.shift();
  EXPECT_EQ(mc.gossip_ids("t").size(), 1u);  // "1" left the gossip windows
  EXPECT_NE(mc.get("1"), nullptr);           // but is still answerable
  mc.shift();
  EXPECT_EQ(mc.get("1"), nullptr);
  EXPECT_EQ(mc.count_request("2", "p"), 1u);
  EXPECT_EQ(mc.count_request("2", "p"), 2u);
}

// --- routers -----------------------------------------------------------------------

TEST(Pubsub, TwoNodesExchangeSignedMessagesBothWays) {
  Mesh mesh(2);
  mesh.connect(0, 1);
  auto s0 = mesh.nodes[0].router->subscribe("chat");
  auto s1 = mesh.nodes[1].router->subscribe("chat");
  ASSERT_TRUE(mesh.topic_ready("chat", 1));
  auto p = mesh.nodes[0].router->publish("chat", bytes_of("from a"));
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->reached, 1u);
  ASSERT_TRUE(mesh.nodes[1].router->publish("chat", bytes_of("from b")));
  std::vector<std::shared_ptr<Subscription>> subs = {s0, s1};
  auto got = collect(subs, 2);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_EQ(got[i].size(), 2u) << "node " << i;
    std::set<std::string> texts;
    for (const auto& m : got[i]) {
      texts.insert(std::string(m.data.begin(), m.data.end()));
      EXPECT_EQ(m.local, m.from == mesh.nodes[i].host->id());
      EXPECT_EQ(m.topic, "chat");
    }
    EXPECT_EQ(texts, (std::set<std::string>{"from a", "from b"}));
  }
  // Both are in each other's mesh.
  EXPECT_TRUE(eventually([&] {
    auto t = mesh.nodes[0].router->topics();
    return t.size() == 1 && t[0].mesh.size() == 1;
  }));
}

TEST(Pubsub, TenNodesInALineDeliverEveryMessageExactlyOnce) {
  Mesh mesh(10);
  for (size_t i = 0; i + 1 < 10; ++i) mesh.connect(i, i + 1);
  std::vector<std::shared_ptr<Subscription>> subs;
  for (auto& n : mesh.nodes) subs.push_back(n.router->subscribe("line"));
  ASSERT_TRUE(mesh.topic_ready("line", 1));
  std::this_thread::sleep_for(300ms);  // grafts settle
  for (size_t i = 0; i < 10; ++i) {
    for (int k = 0; k < 5; ++k) {
      ASSERT_TRUE(mesh.nodes[i].router->publish("line", bytes_of(fmt::format("{}-{}", i, k))));
    }
  }
  auto got = collect(subs, 50);
  for (size_t i = 0; i < 10; ++i) {
    std::set<std::string> ids;
    for (const auto& m : got[i]) ids.insert(m.id);
    EXPECT_EQ(got[i].size(), 50u) << "node " << i;
    EXPECT_EQ(ids.size(), got[i].size()) << "node " << i << " saw a message twice";
  }
}

TEST(Pubsub, ValidatorRejectsAndIsCounted) {
  Mesh mesh(2);
  mesh.connect(0, 1);
  auto s1 = mesh.nodes[1].router->subscribe("v");
  auto s0 = mesh.nodes[0].router->subscribe("v");
  mesh.nodes[1].router->set_validator("v", [](const Message& m) {
    std::string text(m.data.begin(), m.data.end());
    if (text == "bad") return Validation::reject("no_bad_words");
    if (text == "meh") return Validation::ignore("boring");
    return Validation::accept();
  });
  ASSERT_TRUE(mesh.topic_ready("v", 1));
  for (auto text : {"bad", "meh", "good"}) ASSERT_TRUE(mesh.nodes[0].router->publish("v", bytes_of(text)));
  std::vector<std::shared_ptr<Subscription>> subs = {s1};
  auto got = collect(subs, 1);
  ASSERT_EQ(got[0].size(), 1u);
  EXPECT_EQ(std::string(got[0][0].data.begin(), got[0][0].data.end()), "good");
  auto& reg = *mesh.nodes[1].registry;
  EXPECT_EQ(metric(reg, "bzzz_pubsub_rejected_total", {{"topic", "v"}, {"reason", "no_bad_words"}}), 1);
  EXPECT_EQ(metric(reg, "bzzz_pubsub_ignored_total", {{"topic", "v"}, {"reason", "boring"}}), 1);
  // A local publish the validator refuses is an error to the publisher.
  auto refused = mesh.nodes[1].router->publish("v", bytes_of("bad"));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("no_bad_words"), std::string::npos);
}

TEST(Pubsub, PublishWithoutSubscribingUsesFanoutAndTooLargeIsRefused) {
  Mesh mesh(3);
  mesh.connect(0, 1);
  mesh.connect(1, 2);
  auto s1 = mesh.nodes[1].router->subscribe("f");
  auto s2 = mesh.nodes[2].router->subscribe("f");
  ASSERT_TRUE(eventually([&] {
    for (const auto& t : mesh.nodes[0].router->topics()) {
      if (t.topic == "f" && !t.peers.empty()) return true;
    }
    return false;
  }));
  auto p = mesh.nodes[0].router->publish("f", bytes_of("fan"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->reached, 1u);
  std::vector<std::shared_ptr<Subscription>> subs = {s1, s2};
  auto got = collect(subs, 1);
  EXPECT_EQ(got[0].size(), 1u);
  EXPECT_EQ(got[1].size(), 1u);
  std::vector<uint8_t> big(mesh.nodes[0].router->options().max_message_size + 1, 'x');
  auto r = mesh.nodes[0].router->publish("f", big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kTooLarge);
}

TEST(Pubsub, UnsubscribeLeavesTheTopic) {
  Mesh mesh(2);
  mesh.connect(0, 1);
  auto s0 = mesh.nodes[0].router->subscribe("u");
  auto s1 = mesh.nodes[1].router->subscribe("u");
  ASSERT_TRUE(mesh.topic_ready("u", 1));
  s1->cancel();
  EXPECT_TRUE(eventually([&] {
    for (const auto& t : mesh.nodes[0].router->topics()) {
      if (t.topic == "u") return t.peers.empty() && t.mesh.empty();
    }
    return true;
  }));
  auto again = mesh.nodes[1].router->topics();
  for (const auto& t : again) EXPECT_FALSE(t.subscribed && t.topic == "u");
}

TEST(Pubsub, LocalTopicsStayLocal) {
  Mesh mesh(2);
  mesh.connect(0, 1);
  auto probe = mesh.nodes[0].router->subscribe_local("probe");
  auto other = mesh.nodes[1].router->subscribe("probe");  // a peer with a topic of that name
  auto shared = mesh.nodes[0].router->subscribe("shared");
  ASSERT_TRUE(eventually([&] {
    for (const auto& t : mesh.nodes[1].router->topics()) {
      if (t.topic == "shared" && !t.peers.empty()) return true;
    }
    return false;
  }));
  // Node 1 never heard of node 0's local topic, and node 0 does not list it as its own.
  for (const auto& t : mesh.nodes[1].router->topics()) {
    if (t.topic == "probe") {
      EXPECT_TRUE(t.peers.empty());
    }
  }
  for (const auto& t : mesh.nodes[0].router->topics()) {
    if (t.topic == "probe") {
      EXPECT_FALSE(t.subscribed);  // listed only as node 1's topic
    }
  }
  auto p = mesh.nodes[0].router->publish("probe", bytes_of("mine"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->reached, 0u);
  ASSERT_TRUE(eventually([&] { return probe->try_next().has_value(); }));
  // What node 1 publishes on its own "probe" never reaches node 0's local one.
  ASSERT_TRUE(mesh.nodes[1].router->publish("probe", bytes_of("theirs")));
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(probe->try_next());
  EXPECT_TRUE(other->try_next().has_value());  // its own message, delivered locally
}

}  // namespace
}  // namespace bzzz::p2p::pubsub
