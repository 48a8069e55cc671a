// Gossipsub against a hostile peer: an attacker host opens a raw /meshsub/1.1.0 stream
// to the victim and writes malformed RPCs, forged and oversized messages, GRAFT and
// IHAVE floods. Each is refused with a counted reason, and the victim keeps serving an
// honest peer both ways.
#include <gtest/gtest.h>

#include "base/encoding/varint.h"
#include "p2p/pubsub/wire.h"
#include "p2p/pubsub_fixture.h"

namespace bzzz::p2p::pubsub {
namespace {

using namespace testing;

class PubsubBadInput : public ::testing::Test {
 protected:
  // Node 0 is the victim, node 1 an honest peer; the attacker is a bare host.
  PubsubBadInput() : mesh(2) {
    mesh.connect(0, 1);
    victim_sub = mesh.nodes[0].router->subscribe("t");
    honest_sub = mesh.nodes[1].router->subscribe("t");
    attacker = make_host(mesh.loop.io());
    auto c = mesh.loop.run(attacker->connect(addr_of(*mesh.nodes[0].host)));
    EXPECT_TRUE(c) << c.error().message();
    auto s = mesh.loop.run(attacker->new_stream(mesh.nodes[0].host->id(), {std::string(kMeshsub11)}));
    EXPECT_TRUE(s) << s.error().message();
    stream = *s;
    EXPECT_TRUE(mesh.topic_ready("t", 1));
  }
  ~PubsubBadInput() override {
    if (stream) stream->reset();
    attacker->stop();
  }

  void send_raw(std::vector<uint8_t> bytes) {
    auto st = mesh.loop.run([](std::shared_ptr<net::Stream> s, std::vector<uint8_t> b) -> boost::asio::awaitable<Status> {
      co_return co_await s->write(b);
    }(stream, std::move(bytes)));
    EXPECT_TRUE(st) << st.error().message();
  }
  void send(const pb::RPC& rpc) { send_raw(encode_rpc(rpc)); }
  pb::RPC subscribe_rpc() {
    pb::RPC rpc;
    auto* sub = rpc.add_subscriptions();
    sub->set_subscribe(true);
    sub->set_topicid("t");
    return rpc;
  }
  double victim_metric(std::string_view family, std::map<std::string, std::string> labels) {
    return metric(*mesh.nodes[0].registry, family, std::move(labels));
  }
  // The victim still serves: the honest peer's message arrives and vice versa.
  void expect_still_serving(const std::string& tag) {
    ASSERT_TRUE(mesh.nodes[1].router->publish("t", bytes_of("from honest " + tag)));
    ASSERT_TRUE(mesh.nodes[0].router->publish("t", bytes_of("from victim " + tag)));
    auto wanted = [&](std::shared_ptr<Subscription>& sub, const std::string& text) {
      return eventually([&] {
        while (auto m = sub->try_next()) {
          if (std::string(m->data.begin(), m->data.end()) == text) return true;
        }
        return false;
      });
    };
    EXPECT_TRUE(wanted(victim_sub, "from honest " + tag));
    EXPECT_TRUE(wanted(honest_sub, "from victim " + tag));
  }

  Mesh mesh;
  std::shared_ptr<Subscription> victim_sub, honest_sub;
  std::shared_ptr<Host> attacker;
  std::shared_ptr<net::Stream> stream;
  PrivateKey attacker_key = PrivateKey::generate();
};

TEST_F(PubsubBadInput, MalformedRpcIsCountedAndTheStreamGoesOn) {
  send_raw({3, 0xff, 0xff, 0xff});
  ASSERT_TRUE(eventually([&] { return victim_metric("bzzz_pubsub_rpc_errors_total", {{"reason", "malformed_rpc"}}) == 1; }));
  expect_still_serving("1");
}

TEST_F(PubsubBadInput, ForgedAndBrokenMessagesAreRejectedWithReasons) {
  send(subscribe_rpc());
  pb::RPC rpc;
  auto bad_sig = sign_message(PrivateKey::generate(), "t", bytes_of("x"), 1);
  bad_sig.set_data("tampered");
  *rpc.add_publish() = bad_sig;
  auto short_seq = sign_message(PrivateKey::generate(), "t", bytes_of("x"), 2);
  short_seq.set_seqno(std::string(4, '\1'));
  *rpc.add_publish() = short_seq;
  auto long_seq = sign_message(PrivateKey::generate(), "t", bytes_of("x"), 3);
  long_seq.set_seqno(std::string(9, '\1'));
  *rpc.add_publish() = long_seq;
  auto unsigned_msg = sign_message(PrivateKey::generate(), "t", bytes_of("x"), 4);
  unsigned_msg.clear_signature();
  *rpc.add_publish() = unsigned_msg;
  std::vector<uint8_t> big(mesh.nodes[0].router->options().max_message_size + 1, 'b');
  *rpc.add_publish() = sign_message(attacker_key, "t", big, 5);
  send(rpc);
  ASSERT_TRUE(eventually([&] {
    return victim_metric("bzzz_pubsub_rejected_total", {{"topic", "t"}, {"reason", "bad_signature"}}) == 1 &&
           victim_metric("bzzz_pubsub_rejected_total", {{"topic", "t"}, {"reason", "bad_seqno"}}) == 2 &&
           victim_metric("bzzz_pubsub_rejected_total", {{"topic", "t"}, {"reason", "no_signature"}}) == 1 &&
           victim_metric("bzzz_pubsub_rejected_total", {{"topic", "t"}, {"reason", "too_large"}}) == 1;
  }));
  // None of them reached the application or the honest peer.
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(victim_sub->try_next());
  EXPECT_FALSE(honest_sub->try_next());
  expect_still_serving("2");
}

TEST_F(PubsubBadInput, AValidMessageFromTheRawStreamIsDeliveredOnce) {
  // The control case: the same raw stream with a good message works, twice is once.
  send(subscribe_rpc());
  pb::RPC rpc;
  *rpc.add_publish() = sign_message(attacker_key, "t", bytes_of("genuine"), 42);
  send(rpc);
  send(rpc);
  std::vector<std::shared_ptr<Subscription>> subs = {victim_sub, honest_sub};
  auto got = collect(subs, 1, 5s);
  EXPECT_EQ(got[0].size(), 1u);
  EXPECT_EQ(got[1].size(), 1u);
  EXPECT_GE(victim_metric("bzzz_pubsub_messages_total", {{"topic", "t"}, {"event", "duplicate"}}), 1);
}

TEST_F(PubsubBadInput, OversizedRpcEndsTheStream) {
  std::vector<uint8_t> prefix;
  varint_append(prefix, mesh.nodes[0].router->options().max_rpc_size + 1);
  prefix.resize(prefix.size() + 1024, 0);
  send_raw(prefix);
  ASSERT_TRUE(eventually([&] { return victim_metric("bzzz_pubsub_rpc_errors_total", {{"reason", "rpc_too_large"}}) == 1; }));
  expect_still_serving("3");
}

TEST_F(PubsubBadInput, GraftFloodDuringBackoffIsPenalisedUntilGraylisted) {
  send(subscribe_rpc());
  pb::RPC prune;
  auto* p = prune.mutable_control()->add_prune();
  p->set_topicid("t");
  p->set_backoff(60);
  send(prune);  // the attacker leaves the victim's mesh: both now keep a 60 s backoff
  pb::RPC graft;
  graft.mutable_control()->add_graft()->set_topicid("t");
  for (int i = 0; i < 12; ++i) send(graft);
  ASSERT_TRUE(eventually([&] { return victim_metric("bzzz_pubsub_rpc_errors_total", {{"reason", "graft_in_backoff"}}) >= 4; }));
  ASSERT_TRUE(eventually([&] {
    return mesh.nodes[0].router->score(attacker->id()) < mesh.nodes[0].router->options().graylist_threshold;
  }));
  // Graylisted: what it sends now is ignored, even a valid message.
  pb::RPC rpc;
  *rpc.add_publish() = sign_message(attacker_key, "t", bytes_of("ignored"), 7);
  send(rpc);
  EXPECT_TRUE(eventually([&] { return victim_metric("bzzz_pubsub_rpc_errors_total", {{"reason", "graylisted"}}) >= 1; }));
  std::this_thread::sleep_for(200ms);
  while (auto m = victim_sub->try_next()) EXPECT_NE(std::string(m->data.begin(), m->data.end()), "ignored");
  // Never in the victim's mesh.
  for (const auto& t : mesh.nodes[0].router->topics()) {
    for (const auto& peer : t.mesh) EXPECT_NE(peer, attacker->id());
  }
  expect_still_serving("4");
}

TEST_F(PubsubBadInput, IhaveFloodAndSubscriptionFloodAreCapped) {
  send(subscribe_rpc());
  pb::RPC ihaves;
  for (int i = 0; i < 30; ++i) {
    auto* ih = ihaves.mutable_control()->add_ihave();
    ih->set_topicid("t");
    ih->add_messageids("id" + std::to_string(i));
  }
  send(ihaves);
  ASSERT_TRUE(eventually([&] { return victim_metric("bzzz_pubsub_rpc_errors_total", {{"reason", "ihave_flood"}}) >= 1; }));
  pb::RPC subs;
  for (size_t i = 0; i <= mesh.nodes[0].router->options().max_topics_per_rpc; ++i) {
    auto* s = subs.add_subscriptions();
    s->set_subscribe(true);
    s->set_topicid("spam-" + std::to_string(i));
  }
  send(subs);
  ASSERT_TRUE(eventually([&] { return victim_metric("bzzz_pubsub_rpc_errors_total", {{"reason", "too_many_subscriptions"}}) == 1; }));
  for (const auto& t : mesh.nodes[0].router->topics()) EXPECT_NE(t.topic.rfind("spam-", 0), 0u);
  expect_still_serving("5");
}

}  // namespace
}  // namespace bzzz::p2p::pubsub
