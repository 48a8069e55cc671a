// coord/agents: CoordinationAgents on real gossipsub routers (the pubsub fixture's
// Mesh): capabilities and availability learned, a profile change re-broadcast, the
// availability schedule, the bytes a Go agent would read, a forged envelope refused,
// handlers by type, late joiners, and stale entries expiring.
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "coord/agents/coordination_agent.h"
#include "coord/agents_fixture.h"
#include "coord/messages/envelope.h"
#include "p2p/pubsub_fixture.h"

namespace bzzz::coord {
namespace {

using namespace std::chrono_literals;
using namespace bzzz::coord::testing;
using p2p::pubsub::testing::eventually;
using p2p::pubsub::testing::Mesh;
using p2p::pubsub::testing::metric;

const std::string kTopic(kCoordinationTopic);

AgentOptions fast_agent() {
  AgentOptions o;
  o.availability_interval = 200ms;
  o.peer_check_interval = 50ms;
  return o;
}

// Agents on some of a Mesh's nodes; stopped (and their loops finished) before the
// routers go. Declare after the Mesh.
struct Agents {
  explicit Agents(Mesh& m) : mesh(m) {}
  Mesh& mesh;
  std::vector<std::shared_ptr<CoordinationAgent>> agents;

  std::shared_ptr<CoordinationAgent> add(size_t node, AgentProfile profile, AgentOptions options = fast_agent()) {
    auto& n = mesh.nodes[node];
    auto agent = CoordinationAgent::create(mesh.loop.io(), n.router, n.host->id(), std::move(profile),
                                           std::move(options), n.registry.get());
    agents.push_back(agent);
    return agent;
  }
  ~Agents() {
    for (auto& a : agents) a->stop();
    for (auto& a : agents) {
      EXPECT_TRUE(eventually([&] { return a.use_count() == 1; })) << "an agent's loops did not end";
    }
  }
};

std::string id_of(Mesh& mesh, size_t node) { return mesh.nodes[node].host->id().to_string(); }

TEST(CoordinationAgent, PeersLearnCapabilitiesAvailabilityAndChanges) {
  Mesh mesh(2);
  Agents agents(mesh);
  auto a = agents.add(0, walnut());
  AgentProfile ironwood;
  ironwood.id = "ironwood-agent";
  ironwood.capabilities = {"debugging"};
  auto b = agents.add(1, ironwood);
  mesh.connect(0, 1);
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(b->start());
  ASSERT_FALSE(a->start());  // once
  ASSERT_TRUE(mesh.topic_ready(kTopic, 1));

  const std::string a_id = id_of(mesh, 0);
  ASSERT_TRUE(eventually([&] {
    auto r = b->registry().get(a_id);
    return r && r->capability && r->availability;
  }, 10s));
  auto seen = *b->registry().get(a_id);
  EXPECT_EQ(seen.capability->agent_id, "walnut-agent");
  EXPECT_EQ(seen.capability->role, "backend_developer");
  EXPECT_EQ(seen.capability->capabilities, walnut().capabilities);
  EXPECT_EQ(seen.capability->specialization, "code_generation");
  EXPECT_EQ(seen.capability->node_id, a_id);
  EXPECT_EQ(seen.availability->status, "ready");
  EXPECT_EQ(seen.availability->max_tasks, 3);
  EXPECT_TRUE(seen.availability->available_for_work);
  // And the other way; neither holds itself.
  EXPECT_TRUE(eventually([&] { return a->registry().get(id_of(mesh, 1)).has_value(); }, 10s));
  EXPECT_FALSE(a->registry().get(a_id));
  EXPECT_EQ(metric(*mesh.nodes[1].registry, "bzzz_coord_agents_known", {}), 1);

  // A capability change goes out at once with the original's reason; a load change with
  // the next availability broadcast.
  AgentProfile changed = walnut();
  changed.capabilities.push_back("debugging");
  ASSERT_TRUE(a->update_profile(changed));
  ASSERT_TRUE(a->set_load(3));
  EXPECT_TRUE(eventually([&] {
    auto r = b->registry().get(a_id);
    return r && r->capability && r->capability->capabilities.size() == 4 && r->availability &&
           r->availability->status == "busy";
  }, 10s));
  EXPECT_EQ(b->registry().get(a_id)->capability->reason, "capability_change");
  EXPECT_FALSE(b->registry().get(a_id)->availability->available_for_work);
  EXPECT_EQ(a->profile().capabilities.size(), 4u);
  EXPECT_FALSE(a->update_profile(negative_tasks()));

  auto& am = *mesh.nodes[0].registry;
  EXPECT_GE(metric(am, "bzzz_coord_broadcasts_total", {{"type", "capability_broadcast"}}), 2);
  EXPECT_EQ(metric(am, "bzzz_coord_broadcast_errors_total", {}), 0);
  EXPECT_GE(metric(*mesh.nodes[1].registry, "bzzz_coord_messages_total",
                   {{"topic_kind", "coordination"}, {"verdict", "accept"}, {"reason", "none"}}),
            2);
}

TEST(CoordinationAgent, AvailabilityGoesOutEveryInterval) {
  Mesh mesh(2);
  Agents agents(mesh);
  auto a = agents.add(0, walnut());
  auto b = agents.add(1, named("listener"));
  std::atomic<int> from_a{0};
  const std::string a_id = id_of(mesh, 0);
  b->on_message("availability_broadcast", [&](const CoordMessage& m) {
    EXPECT_EQ(m.local, m.envelope.from != a_id);  // b's own come back to it, marked
    if (m.envelope.from == a_id) ++from_a;
  });
  mesh.connect(0, 1);
  ASSERT_TRUE(b->start());
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(mesh.topic_ready(kTopic, 1));
  // 200 ms apart: 6 take about a second; the limit is for a loaded machine.
  EXPECT_TRUE(eventually([&] { return from_a >= 6; }, 15s)) << from_a;
  EXPECT_GE(metric(*mesh.nodes[0].registry, "bzzz_coord_broadcasts_total", {{"type", "availability_broadcast"}}), 6);
}

TEST(CoordinationAgent, PublishedBytesAreWhatAGoAgentReads) {
  Mesh mesh(2);
  Agents agents(mesh);
  AgentProfile p = walnut();
  p.current_tasks = 1;
  auto a = agents.add(0, p);
  auto raw = mesh.nodes[1].router->subscribe(kTopic);  // a plain gossipsub peer
  mesh.connect(0, 1);
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(mesh.topic_ready(kTopic, 1));

  std::map<std::string, std::string> texts;  // type -> the first message's bytes
  ASSERT_TRUE(eventually([&] {
    while (auto m = raw->try_next()) {
      EXPECT_EQ(m->from, mesh.nodes[0].host->id());
      std::string text(m->data.begin(), m->data.end());
      const Json j = Json::parse(text);
      texts.emplace(j.at("type").get<std::string>(), std::move(text));
    }
    return texts.size() == 2;
  }, 10s));

  for (const auto& [type, text] : texts) {
    SCOPED_TRACE(type);
    const Json ours = Json::parse(text);
    const Json go = Json::parse(read_fixture(type));
    // The envelope: Go's fields in Go's order, plus our version.
    EXPECT_EQ(text.rfind(R"({"type":")", 0), 0u);
    EXPECT_LT(text.find(R"("from":)"), text.find(R"("timestamp":)"));
    EXPECT_LT(text.find(R"("timestamp":)"), text.find(R"("data":)"));
    EXPECT_EQ(extra_keys(go, ours), std::set<std::string>{"version"});
    EXPECT_EQ(ours["version"], 1);
    EXPECT_EQ(ours["from"], id_of(mesh, 0));
    EXPECT_TRUE(parse_rfc3339(ours["timestamp"].get<std::string>()));
    const std::set<std::string> expected_extra =
        type == "capability_broadcast" ? std::set<std::string>{"agent_id", "role"} : std::set<std::string>{};
    EXPECT_EQ(extra_keys(go["data"], ours["data"]), expected_extra);
  }
  const Json av = Json::parse(texts["availability_broadcast"])["data"];
  EXPECT_EQ(av["status"], "working");
  EXPECT_EQ(av["current_tasks"], 1);
  EXPECT_EQ(av["node_id"], id_of(mesh, 0));
}

TEST(CoordinationAgent, ForgedEnvelopeIsRejectedAndNotRegistered) {
  Mesh mesh(2);
  Agents agents(mesh);
  auto b = agents.add(1, named("b"));
  mesh.connect(0, 1);
  ASSERT_TRUE(b->start());
  // Node 0 (no agent, no validator, not subscribed) must know b is on the topic.
  ASSERT_TRUE(eventually([&] {
    for (const auto& t : mesh.nodes[0].router->topics()) {
      if (t.topic == kTopic && !t.peers.empty()) return true;
    }
    return false;
  }, 10s));

  // Node 0 publishes, signed by itself, an envelope naming someone else.
  const auto victim = p2p::PeerId::from_public_key(p2p::PrivateKey::generate().public_key());
  const auto& forger = mesh.nodes[0].router;
  const TimePoint now = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  const Envelope forged = make_envelope(MessageType::kCapabilityBroadcast, victim,
                                        capability_data(walnut(), victim, kReasonStartup, "0.2.0", now), now);
  ASSERT_TRUE(forger->publish(kTopic, encode_envelope(forged)));
  // Then an honest one: the same stream, so once it is in, the forgery was judged.
  const p2p::PeerId honest_id = mesh.nodes[0].host->id();
  const Envelope honest = make_envelope(MessageType::kAvailabilityBroadcast, honest_id,
                                        availability_data(walnut(), honest_id, now), now);
  ASSERT_TRUE(forger->publish(kTopic, encode_envelope(honest)));

  ASSERT_TRUE(eventually([&] { return b->registry().get(honest_id.to_string()).has_value(); }, 10s));
  EXPECT_FALSE(b->registry().get(victim.to_string()));
  EXPECT_EQ(b->registry().list().size(), 1u);
  EXPECT_EQ(metric(*mesh.nodes[1].registry, "bzzz_coord_messages_total",
                   {{"topic_kind", "coordination"}, {"verdict", "reject"}, {"reason", "from_mismatch"}}),
            1);
}

TEST(CoordinationAgent, HandlersGetEveryTypeAndTheRegistryOnlyBroadcasts) {
  Mesh mesh(2);
  Agents agents(mesh);
  auto a = agents.add(0, walnut());
  auto b = agents.add(1, named("b"));
  std::mutex mu;
  std::vector<std::string> claims, unknown, a_all;
  bool own_seen = false;
  b->on_message("task_claim", [&](const CoordMessage& m) {
    std::lock_guard lock(mu);
    claims.push_back(m.envelope.data.value("agent_id", ""));
    EXPECT_EQ(m.publisher, mesh.nodes[0].host->id());
  });
  b->on_message("plan_proposal", [&](const CoordMessage& m) {
    std::lock_guard lock(mu);
    unknown.push_back(m.envelope.type);
  });
  const uint64_t removed = b->on_message("task_claim", [](const CoordMessage&) { ADD_FAILURE() << "removed"; });
  b->remove_handler(removed);
  b->on_message("", [](const CoordMessage&) { throw std::runtime_error("handler trouble"); });  // logged only
  a->on_message("", [&](const CoordMessage& m) {
    std::lock_guard lock(mu);
    if (m.local) own_seen = true;
    a_all.push_back(m.envelope.type);
  });
  mesh.connect(0, 1);
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(b->start());
  ASSERT_TRUE(mesh.topic_ready(kTopic, 1));

  const p2p::PeerId a_id = mesh.nodes[0].host->id();
  const TimePoint now = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  Json claim = {{"task_id", 15}, {"agent_id", "walnut-agent"}, {"action", "claimed"}};
  ASSERT_TRUE(mesh.nodes[0].router->publish(kTopic, encode_envelope(make_envelope(MessageType::kTaskClaim, a_id,
                                                                                   claim, now))));
  Envelope odd = make_envelope(MessageType::kTaskClaim, a_id, Json::object(), now);
  odd.type = "plan_proposal";  // one of the original's earliest types
  ASSERT_TRUE(mesh.nodes[0].router->publish(kTopic, encode_envelope(odd)));

  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return claims.size() == 1 && unknown.size() == 1 && own_seen;
  }, 10s));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(claims[0], "walnut-agent");
    EXPECT_EQ(unknown[0], "plan_proposal");
  }
  auto& bm = *mesh.nodes[1].registry;
  EXPECT_EQ(metric(bm, "bzzz_coord_received_total", {{"type", "task_claim"}}), 1);
  EXPECT_EQ(metric(bm, "bzzz_coord_received_total", {{"type", "unknown"}}), 1);
  EXPECT_EQ(metric(bm, "bzzz_coord_messages_total", {{"verdict", "accept"}, {"reason", "unknown_type"}}), 1);
  // The registry holds A from its broadcasts, untouched by the claim.
  ASSERT_TRUE(eventually([&] { return b->registry().get(a_id.to_string()).has_value(); }, 10s));
}

TEST(CoordinationAgent, AgentStartedBeforeAnyPeerIsLearnedWhenOneJoins) {
  Mesh mesh(2);
  Agents agents(mesh);
  AgentOptions slow = fast_agent();
  slow.availability_interval = 60s;  // nothing periodic gets it there
  auto a = agents.add(0, walnut(), slow);
  auto b = agents.add(1, named("b"), slow);
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(b->start());
  std::this_thread::sleep_for(100ms);  // both startup broadcasts went to nobody
  mesh.connect(0, 1);
  ASSERT_TRUE(mesh.topic_ready(kTopic, 1));
  const std::string a_id = id_of(mesh, 0);
  ASSERT_TRUE(eventually([&] {
    auto r = b->registry().get(a_id);
    return r && r->capability && r->availability;
  }, 10s));
  EXPECT_EQ(b->registry().get(a_id)->capability->reason, "new_peer");
}

TEST(CoordinationAgent, SilentAgentsGoStaleThenAreForgotten) {
  Mesh mesh(2);
  Agents agents(mesh);
  AgentOptions options = fast_agent();
  options.availability_interval = 100ms;
  options.registry_ttl = 400ms;
  options.registry_forget_after = 1200ms;
  auto a = agents.add(0, walnut(), options);
  auto b = agents.add(1, named("b"), options);
  mesh.connect(0, 1);
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(b->start());
  ASSERT_TRUE(mesh.topic_ready(kTopic, 1));
  const std::string a_id = id_of(mesh, 0);
  ASSERT_TRUE(eventually([&] { return b->registry().get(a_id).has_value(); }, 10s));
  EXPECT_FALSE(b->registry().get(a_id)->stale);

  a->stop();
  ASSERT_TRUE(eventually([&] {
    auto r = b->registry().get(a_id);
    return r && r->stale;
  }, 10s));
  EXPECT_TRUE(eventually([&] { return metric(*mesh.nodes[1].registry, "bzzz_coord_agents_known", {}) == 0; }, 10s));
  EXPECT_TRUE(eventually([&] { return !b->registry().get(a_id).has_value(); }, 10s));
}

}  // namespace
}  // namespace bzzz::coord
