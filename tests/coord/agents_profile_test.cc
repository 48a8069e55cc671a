// coord/agents without a network: the profile's data shapes against the Go fixtures,
// reading what Go agents send, the registry on a fake clock, and the message observer.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "coord/agents/message_metrics.h"
#include "coord/agents/profile.h"
#include "coord/agents/registry.h"
#include "coord/agents_fixture.h"
#include "p2p/pubsub_fixture.h"

namespace bzzz::coord {
namespace {

using namespace std::chrono_literals;
using namespace bzzz::coord::testing;
using p2p::pubsub::testing::metric;

// --- profile ------------------------------------------------------------------------

TEST(AgentProfile, StatusIsDerivedAsTheOriginalDoesUnlessSet) {
  AgentProfile p = walnut();
  EXPECT_EQ(effective_status(p), "ready");
  EXPECT_TRUE(available_for_work(p));
  p.current_tasks = 1;
  EXPECT_EQ(effective_status(p), "working");
  EXPECT_TRUE(available_for_work(p));
  p.current_tasks = 3;
  EXPECT_EQ(effective_status(p), "busy");
  EXPECT_FALSE(available_for_work(p));
  p.current_tasks = 0;
  p.status = "paused";
  EXPECT_EQ(effective_status(p), "paused");
  EXPECT_FALSE(available_for_work(p));
  p.max_tasks = 0;
  p.status.clear();
  EXPECT_EQ(effective_status(p), "busy");
  p.max_tasks = 2;
  p.current_tasks = 1;
  const Json shown = profile_json(p);
  EXPECT_EQ(shown["id"], "walnut-agent");
  EXPECT_EQ(shown["status"], "working");
  EXPECT_EQ(shown["available_for_work"], true);
  EXPECT_EQ(shown["capabilities"].size(), 3u);
}

TEST(AgentProfile, ChangeReasonsFollowTheOriginalsOrder) {
  const AgentProfile a = walnut();
  AgentProfile b = a;
  b.current_tasks = 2;
  b.max_tasks = 5;
  b.status = "paused";
  EXPECT_EQ(capability_change(a, b), "");  // load is not a capability
  b.specialization = "testing";
  EXPECT_EQ(capability_change(a, b), "specialization_change");
  b.capabilities.push_back("debugging");
  EXPECT_EQ(capability_change(a, b), "capability_change");
  b.models = {"phi3"};
  EXPECT_EQ(capability_change(a, b), "model_change");
  AgentProfile c = a;
  c.role = "architect";
  EXPECT_EQ(capability_change(a, c), "unknown_change");
}

TEST(AgentProfile, ValidationNamesTheField) {
  AgentProfile p = walnut();
  EXPECT_TRUE(validate_profile(p));
  p.max_tasks = -1;
  auto st = validate_profile(p);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("max_tasks"), std::string::npos);
  p = walnut();
  p.capabilities.push_back("");
  st = validate_profile(p);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("capabilities"), std::string::npos);
  p = walnut();
  p.models.assign(kMaxListItems + 1, "m");
  EXPECT_FALSE(validate_profile(p));
}

TEST(AgentProfile, DataHasTheFixturesKeysAndKinds) {
  const auto node = p2p::PeerId::from_public_key(p2p::PrivateKey::generate().public_key());
  const TimePoint now = utc(2025, 7, 14, 10, 30, 0);

  const Json cap = capability_data(walnut(), node, kReasonStartup, "0.2.0", now);
  EXPECT_EQ(extra_keys(fixture_envelope("capability_broadcast").data, cap),
            (std::set<std::string>{"agent_id", "role"}));
  EXPECT_EQ(cap["node_id"], node.to_string());
  EXPECT_EQ(cap["timestamp"], 1752489000);
  EXPECT_EQ(cap["reason"], "startup");
  EXPECT_EQ(cap["agent_id"], "walnut-agent");

  AgentProfile loaded = walnut();
  loaded.current_tasks = 1;
  const Json av = availability_data(loaded, node, now);
  EXPECT_EQ(extra_keys(fixture_envelope("availability_broadcast").data, av), std::set<std::string>{});
  EXPECT_EQ(av["status"], "working");
  EXPECT_EQ(av["available_for_work"], true);
  EXPECT_EQ(av["last_activity"], av["timestamp"]);

  // Empty lists are [] (Go writes null; both read back empty).
  AgentProfile bare;
  EXPECT_EQ(capability_data(bare, node, kReasonStartup, "x", now)["capabilities"], Json::array());
}

TEST(AgentProfile, ReadsWhatGoWritesAndToleratesWhatGoTolerates) {
  const CapabilityInfo cap = read_capability_data(fixture_envelope("capability_broadcast").data);
  EXPECT_TRUE(cap.well_formed);
  EXPECT_EQ(cap.capabilities, (std::vector<std::string>{"code-generation", "code-review", "task-coordination"}));
  EXPECT_EQ(cap.models, (std::vector<std::string>{"phi3", "llama3.1:8b"}));
  EXPECT_EQ(cap.specialization, "code_generation");
  EXPECT_EQ(cap.version, "0.2.0");
  EXPECT_EQ(cap.reason, "startup");
  EXPECT_EQ(cap.timestamp, 1752489000);
  EXPECT_EQ(cap.agent_id, "");  // the original sends none

  const AvailabilityInfo av = read_availability_data(fixture_envelope("availability_broadcast").data);
  EXPECT_TRUE(av.well_formed);
  EXPECT_EQ(av.status, "working");
  EXPECT_TRUE(av.available_for_work);
  EXPECT_EQ(av.current_tasks, 1);
  EXPECT_EQ(av.max_tasks, 3);
  EXPECT_EQ(av.last_activity, 1752489090);

  // Numbers as a Go relay re-marshals them (float64), null lists, missing fields.
  const AvailabilityInfo floats = read_availability_data(Json::parse(R"({"current_tasks":2.0,"max_tasks":3e0})"));
  EXPECT_TRUE(floats.well_formed);
  EXPECT_EQ(floats.current_tasks, 2);
  EXPECT_EQ(floats.max_tasks, 3);
  const CapabilityInfo nulls = read_capability_data(Json::parse(R"({"capabilities":null,"models":null})"));
  EXPECT_TRUE(nulls.well_formed);
  EXPECT_TRUE(nulls.capabilities.empty());

  // Wrong kinds are noted and skipped; the rest is still read.
  const CapabilityInfo odd =
      read_capability_data(Json::parse(R"({"capabilities":["a",7,"b"],"models":"phi3","role":"dev","timestamp":1.5})"));
  EXPECT_FALSE(odd.well_formed);
  EXPECT_EQ(odd.capabilities, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(odd.models.empty());
  EXPECT_EQ(odd.role, "dev");
  EXPECT_EQ(odd.timestamp, 0);
  Json huge = Json::object();
  huge["capabilities"] = Json::array();
  for (size_t i = 0; i <= kMaxListItems; ++i) huge["capabilities"].push_back("c");
  huge["specialization"] = std::string(kMaxTextBytes + 1, 'x');
  const CapabilityInfo big = read_capability_data(huge);
  EXPECT_FALSE(big.well_formed);
  EXPECT_TRUE(big.capabilities.empty());
  EXPECT_TRUE(big.specialization.empty());
  EXPECT_FALSE(read_availability_data(Json::parse(R"({"available_for_work":"yes"})")).well_formed);
}

// --- registry -----------------------------------------------------------------------

struct FakeClock {
  TimePoint now = utc(2025, 7, 14, 10, 31, 0);
  std::function<TimePoint()> fn() {
    return [this] { return now; };
  }
};

TEST(AgentRegistry, LearnsFromGoFixturesAndIgnoresOtherTypes) {
  FakeClock clock;
  prometheus::Registry metrics;
  AgentRegistry registry({.ttl = 90s, .forget_after = 600s, .max_agents = 16, .clock = clock.fn()}, &metrics);

  const Envelope cap = fixture_envelope("capability_broadcast");
  const Envelope av = fixture_envelope("availability_broadcast");
  EXPECT_TRUE(registry.observe(cap));
  EXPECT_TRUE(registry.observe(av));
  EXPECT_FALSE(registry.observe(fixture_envelope("task_claim")));
  EXPECT_FALSE(registry.observe(fixture_envelope("meta_discussion")));

  auto list = registry.list();
  ASSERT_EQ(list.size(), 2u);  // two publishers: A sent capabilities, C availability
  auto a = registry.get(cap.from);
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->capability);
  EXPECT_FALSE(a->availability);
  EXPECT_EQ(a->capability->models, (std::vector<std::string>{"phi3", "llama3.1:8b"}));
  EXPECT_EQ(a->capability_sent, "2025-07-14T20:30:00.000042+10:00");
  EXPECT_EQ(a->last_seen, clock.now);
  EXPECT_FALSE(a->stale);
  // The CID text form names the same peer.
  auto same = registry.get(p2p::PeerId::parse(cap.from)->to_cid());
  ASSERT_TRUE(same);
  EXPECT_EQ(same->peer, cap.from);
  EXPECT_FALSE(registry.get("not a peer id"));

  auto c = registry.get(av.from);
  ASSERT_TRUE(c && c->availability);
  EXPECT_EQ(c->availability->status, "working");
  EXPECT_EQ(registry.known(), 2u);
  EXPECT_EQ(metric(metrics, "bzzz_coord_agents_known", {}), 2);

  const Json shown = to_json(*a);
  EXPECT_EQ(shown["peer"], cap.from);
  EXPECT_EQ(shown["stale"], false);
  EXPECT_EQ(shown["profile"]["capabilities"].size(), 3u);
  EXPECT_EQ(shown["profile"]["sent"], "2025-07-14T20:30:00.000042+10:00");
  EXPECT_TRUE(shown["availability"].is_null());
  EXPECT_EQ(shown["last_seen"], "2025-07-14T10:31:00Z");
}

TEST(AgentRegistry, StaleAfterTtlForgottenLaterAndBounded) {
  FakeClock clock;
  prometheus::Registry metrics;
  AgentRegistry registry({.ttl = 90s, .forget_after = 300s, .max_agents = 3, .clock = clock.fn()}, &metrics);
  const Envelope av = fixture_envelope("availability_broadcast");
  ASSERT_TRUE(registry.observe(av));

  clock.now += 90s;
  EXPECT_FALSE(registry.get(av.from)->stale);  // ttl is inclusive
  clock.now += 1s;
  EXPECT_TRUE(registry.get(av.from)->stale);
  EXPECT_EQ(registry.known(), 0u);
  registry.sweep();
  EXPECT_EQ(metric(metrics, "bzzz_coord_agents_known", {}), 0);
  ASSERT_EQ(registry.list().size(), 1u);  // stale is still listed
  EXPECT_TRUE(registry.list()[0].stale);

  // Heard again: fresh.
  ASSERT_TRUE(registry.observe(av));
  EXPECT_FALSE(registry.get(av.from)->stale);

  clock.now += 301s;
  EXPECT_FALSE(registry.get(av.from));  // forgotten, even before a sweep
  EXPECT_TRUE(registry.list().empty());
  registry.sweep();

  // At max_agents a new peer evicts the one heard from longest ago.
  std::vector<std::string> peers;
  for (int i = 0; i < 4; ++i) {
    Envelope e = av;
    const auto id = p2p::PeerId::from_public_key(p2p::PrivateKey::generate().public_key());
    e.from = id.to_string();
    peers.push_back(e.from);
    ASSERT_TRUE(registry.observe(e));
    clock.now += 1s;
  }
  EXPECT_EQ(registry.list().size(), 3u);
  EXPECT_FALSE(registry.get(peers[0]));
  EXPECT_TRUE(registry.get(peers[3]));
}

TEST(MessageObserver, LabelsEveryVerdict) {
  prometheus::Registry metrics;
  auto observe = message_observer(&metrics, TopicKind::kMetaDiscussion);
  observe(Check{});
  observe(Check{Verdict::kIgnore, "hop_limit", "hop_count 4"});
  observe(Check{Verdict::kReject, "bad_from", "x"});
  observe(Check{Verdict::kReject, "bad_from", "y"});
  EXPECT_EQ(metric(metrics, "bzzz_coord_messages_total",
                   {{"topic_kind", "meta_discussion"}, {"verdict", "accept"}, {"reason", "none"}}),
            1);
  EXPECT_EQ(metric(metrics, "bzzz_coord_messages_total", {{"verdict", "ignore"}, {"reason", "hop_limit"}}), 1);
  EXPECT_EQ(metric(metrics, "bzzz_coord_messages_total", {{"verdict", "reject"}, {"reason", "bad_from"}}), 2);
  // A second topic's observer shares the family.
  auto coordination = message_observer(&metrics, TopicKind::kCoordination);
  coordination(Check{});
  EXPECT_EQ(metric(metrics, "bzzz_coord_messages_total", {{"verdict", "accept"}}), 2);
  message_observer(nullptr, TopicKind::kIssue)(Check{});  // no registry: fine
}

}  // namespace
}  // namespace bzzz::coord
