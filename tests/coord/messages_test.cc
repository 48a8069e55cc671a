// coord/messages: the original BZZZ's envelope against fixtures marshalled by Go's
// encoding/json in the original's shapes (tests/coord/fixtures/README.md), bad
// envelopes of every kind, the topic rules, the hop rule, and the pubsub adapter.
#include <fstream>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coord/messages/envelope.h"
#include "coord/messages/pubsub_validator.h"
#include "coord/messages/validate.h"

namespace bzzz::coord {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
using namespace std::chrono_literals;

// The fixtures' three publishers: Ed25519 peers from seeds ..01, ..02, ..03.
constexpr std::string_view kPeerA = "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp";
constexpr std::string_view kPeerB = "12D3KooWHdiAxVd8uMQR1hGWXccidmfCwLqcMpGwR6QcTP6QRMuD";
constexpr std::string_view kPeerC = "12D3KooWSCufgHzV4fCwRijfH2k3abrpAJxTKxEvN1FDuRXA2U9x";

p2p::PeerId peer(std::string_view text) { return *p2p::PeerId::parse(text); }

std::string read_fixture(std::string_view name) {
  std::ifstream in(std::string(BZZZ_COORD_FIXTURES) + "/v1/" + std::string(name) + ".json",
                   std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();  // the file's, not Go's
  return text;
}

std::span<const uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

TimePoint utc(int y, unsigned mo, unsigned d, int h, int mi, int s, int64_t ns = 0) {
  return TimePoint(std::chrono::sys_days(std::chrono::year(y) / mo / d)) + std::chrono::hours(h) +
         std::chrono::minutes(mi) + std::chrono::seconds(s) + std::chrono::nanoseconds(ns);
}

struct FixtureCase {
  std::string_view file;
  MessageType type;
  std::string_view from;
  int hop_count;
  TimePoint time;  // the timestamp as UTC
  // Data built from maps only: Go sorts map keys, as nlohmann does, so our encoding is
  // byte-identical. Data holding Go structs keeps their declaration order, which ours
  // sorts: those compare as JSON.
  bool byte_identical;
};

const std::vector<FixtureCase>& fixture_cases() {
  static const std::vector<FixtureCase> cases = {
      {"task_announcement", MessageType::kTaskAnnouncement, kPeerA, 0, utc(2025, 7, 14, 10, 31, 7, 123456789), false},
      {"task_claim", MessageType::kTaskClaim, kPeerB, 0, utc(2025, 7, 14, 10, 31, 9, 500000000), true},
      {"task_progress", MessageType::kTaskProgress, kPeerB, 0, utc(2025, 7, 14, 10, 31, 10), true},
      {"task_complete", MessageType::kTaskComplete, kPeerB, 0, utc(2025, 7, 14, 10, 32, 20, 987654321), true},
      {"capability_broadcast", MessageType::kCapabilityBroadcast, kPeerA, 0, utc(2025, 7, 14, 10, 30, 0, 42000), true},
      {"availability_broadcast", MessageType::kAvailabilityBroadcast, kPeerC, 0, utc(2025, 7, 14, 10, 31, 30, 1), true},
      {"meta_discussion", MessageType::kMetaDiscussion, kPeerA, 0, utc(2025, 7, 14, 10, 31, 7, 123456789), false},
      {"meta_discussion_hop", MessageType::kMetaDiscussion, kPeerC, 2, utc(2025, 7, 12, 10, 40, 1, 250000000), true},
      {"task_help_request", MessageType::kTaskHelpRequest, kPeerB, 0, utc(2025, 7, 14, 10, 45, 2, 200300400), true},
      {"task_help_response", MessageType::kTaskHelpResponse, kPeerC, 0, utc(2025, 7, 14, 10, 45, 3, 999999999), true},
      {"coordination_request", MessageType::kCoordinationRequest, kPeerA, 0, utc(2025, 7, 14, 10, 50, 0, 100000000), true},
      {"coordination_complete", MessageType::kCoordinationComplete, kPeerA, 0, utc(2025, 7, 14, 10, 50, 20, 300000000), true},
      {"dependency_alert", MessageType::kDependencyAlert, kPeerA, 0, utc(2025, 7, 14, 10, 31, 7, 124456789), false},
      {"escalation_trigger", MessageType::kEscalationTrigger, kPeerC, 0, utc(2025, 7, 14, 11, 0, 0, 5000000), false},
  };
  return cases;
}

// Where the original publishes each fixture.
std::string topic_for(MessageType type) {
  if (type == MessageType::kTaskHelpRequest || type == MessageType::kTaskHelpResponse) {
    return issue_topic(15);
  }
  return std::string(home_topic(type) == TopicKind::kCoordination ? kCoordinationTopic : kAntennaeTopic);
}

TEST(CoordFixtures, EveryKnownTypeHasOne) {
  std::set<MessageType> covered;
  for (const auto& c : fixture_cases()) covered.insert(c.type);
  for (MessageType type : known_message_types()) {
    EXPECT_TRUE(covered.contains(type)) << type_name(type);
  }
  EXPECT_EQ(known_message_types().size(), 13u);
}

TEST(CoordFixtures, ParseAsGoWroteThem) {
  for (const auto& c : fixture_cases()) {
    SCOPED_TRACE(c.file);
    const std::string raw = read_fixture(c.file);
    auto env = decode_envelope(bytes_of(raw));
    ASSERT_TRUE(env) << env.error().message;
    EXPECT_EQ(env->type, type_name(c.type));
    EXPECT_EQ(env->kind(), c.type);
    EXPECT_EQ(env->from, c.from);
    EXPECT_EQ(env->timestamp.time, c.time);
    EXPECT_EQ(env->timestamp.text, Json::parse(raw)["timestamp"].get<std::string>());
    EXPECT_TRUE(env->data.is_object());
    EXPECT_FALSE(env->data.empty());
    EXPECT_EQ(env->data, Json::parse(raw)["data"]);
    EXPECT_EQ(env->hop_count, c.hop_count);
    EXPECT_EQ(env->version, 1);  // absent in the original's messages
    EXPECT_TRUE(allowed_on(c.type, topic_kind(topic_for(c.type))));
  }
}

// Our encoding, read back the way Go's json.Unmarshal into pubsub.Message needs it.
TEST(CoordFixtures, ReencodeReadsBackAsGoExpects) {
  for (const auto& c : fixture_cases()) {
    SCOPED_TRACE(c.file);
    const std::string raw = read_fixture(c.file);
    auto env = decode_envelope(bytes_of(raw));
    ASSERT_TRUE(env);
    const std::string ours = encode_envelope_text(*env);

    Json back = Json::parse(ours);
    ASSERT_TRUE(back.is_object());
    std::set<std::string> keys;
    for (const auto& [key, value] : back.items()) keys.insert(key);
    std::set<std::string> want = {"type", "from", "timestamp", "data", "version"};
    if (c.hop_count != 0) want.insert("hop_count");
    EXPECT_EQ(keys, want);
    EXPECT_TRUE(back["type"].is_string());
    EXPECT_TRUE(back["from"].is_string());
    ASSERT_TRUE(back["timestamp"].is_string());
    EXPECT_TRUE(parse_rfc3339(back["timestamp"].get<std::string>()));
    EXPECT_TRUE(back["data"].is_object());
    if (c.hop_count != 0) {
      EXPECT_TRUE(back["hop_count"].is_number_integer());
    }
    EXPECT_EQ(back["version"], 1);

    Json original = Json::parse(raw);
    original["version"] = 1;
    EXPECT_EQ(back, original);

    // Go's field order, escaping and timestamp text; only `version` is added.
    const std::string expected = raw.substr(0, raw.size() - 1) + ",\"version\":1}";
    if (c.byte_identical) {
      EXPECT_EQ(ours, expected);
    } else {
      EXPECT_EQ(ours.substr(0, ours.find("\"data\":")), raw.substr(0, raw.find("\"data\":")));
    }
  }
}

TEST(CoordFixtures, ValidatorAcceptsThemFromTheirSigner) {
  for (const auto& c : fixture_cases()) {
    SCOPED_TRACE(c.file);
    const std::string raw = read_fixture(c.file);
    Check check = check_message(topic_for(c.type), bytes_of(raw), peer(c.from));
    EXPECT_EQ(check.verdict, Verdict::kAccept) << check.reason << ": " << check.detail;
    EXPECT_EQ(check.reason, "");

    // Signed by anyone else: forged.
    const auto other = peer(c.from == kPeerA ? kPeerB : kPeerA);
    check = check_message(topic_for(c.type), bytes_of(raw), other);
    EXPECT_EQ(check.verdict, Verdict::kReject);
    EXPECT_EQ(check.reason, "from_mismatch");
  }
}

TEST(CoordFixtures, RelayFixtureEscapesLikeGo) {
  const std::string raw = read_fixture("meta_discussion_hop");
  EXPECT_THAT(raw, HasSubstr("\\u003cWebSocket\\u003e \\u0026 auth"));
  auto env = decode_envelope(bytes_of(raw));
  ASSERT_TRUE(env);
  EXPECT_EQ(env->data["message"].get<std::string>().substr(0, 62),
            "Agreed: define the API contract first, then <WebSocket> & auth");
}

// --- bad envelopes ----------------------------------------------------------------

std::string as_json(const std::string& text) { return Json(text).dump(); }

std::string envelope_with(std::string_view field, std::string_view value_json) {
  Json base = {{"type", "task_claim"},
               {"from", kPeerA},
               {"timestamp", "2025-07-14T20:31:07.123456789+10:00"},
               {"data", {{"task_id", 15}}}};
  if (value_json.empty()) {  // drop the field
    base.erase(std::string(field));
    return base.dump();
  }
  base[std::string(field)] = Json::parse(value_json);
  return base.dump();
}

struct BadCase {
  std::string bytes;
  std::string_view label;
  std::string_view message_part;
};

TEST(CoordEnvelope, BadEnvelopesNameTheirField) {
  std::vector<BadCase> cases = {
      {std::string(kMaxEnvelopeBytes + 1, ' '), "too_large", "byte limit"},
      {"", "not_json", "not JSON"},
      {"{", "not_json", "not JSON"},
      {"{\"type\":\"task_claim\",}", "not_json", "not JSON"},
      {"{\"type\":\"\xff\"}", "not_json", "not JSON"},
      {std::string(65, '[') + std::string(65, ']'), "not_json", "nests deeper"},
      {"[]", "not_object", "an array"},
      {"\"task_claim\"", "not_object", "a string"},
      {"42", "not_object", "an integer"},
      {"null", "not_object", "null"},
      {envelope_with("type", ""), "bad_type", "no \"type\""},
      {envelope_with("type", "5"), "bad_type", "\"type\" is an integer"},
      {envelope_with("type", "null"), "bad_type", "\"type\" is null"},
      {envelope_with("type", "\"\""), "bad_type", "empty"},
      {envelope_with("type", as_json(std::string(129, 'x'))), "bad_type", "over 128"},
      {envelope_with("from", ""), "bad_from", "no \"from\""},
      {envelope_with("from", "7"), "bad_from", "\"from\" is an integer"},
      {envelope_with("from", "\"not-a-peer\""), "bad_from", "not a peer id"},
      {envelope_with("from", "\"\""), "bad_from", "not a peer id"},
      {envelope_with("from", "\"12D3KooWEyop\""), "bad_from", "not a peer id"},
      {envelope_with("timestamp", ""), "bad_timestamp", "no \"timestamp\""},
      {envelope_with("timestamp", "1752489067"), "bad_timestamp", "is an integer"},
      {envelope_with("timestamp", "\"2025-07-14 20:31:07Z\""), "bad_timestamp", "not an RFC 3339"},
      {envelope_with("timestamp", "\"2025-07-14t20:31:07Z\""), "bad_timestamp", "not an RFC 3339"},
      {envelope_with("timestamp", "\"2025-07-14T20:31:07\""), "bad_timestamp", "no zone"},
      {envelope_with("timestamp", "\"2025-07-14T20:31:07z\""), "bad_timestamp", "no zone"},
      {envelope_with("timestamp", "\"2025-02-29T20:31:07Z\""), "bad_timestamp", "no such date"},
      {envelope_with("timestamp", "\"2025-07-14T24:00:00Z\""), "bad_timestamp", "no such time"},
      {envelope_with("timestamp", "\"2016-12-31T23:59:60Z\""), "bad_timestamp", "no such time"},
      {envelope_with("timestamp", "\"2025-07-14T20:31:07.Z\""), "bad_timestamp", "without digits"},
      {envelope_with("timestamp", "\"2025-07-14T20:31:07+24:00\""), "bad_timestamp", "bad zone"},
      {envelope_with("timestamp", "\"2025-07-14T20:31:07+1000\""), "bad_timestamp", "bad zone"},
      {envelope_with("timestamp", "\"2025-07-14T20:31:07Z \""), "bad_timestamp", "trailing"},
      {envelope_with("timestamp", "\"0001-01-01T00:00:00Z\""), "bad_timestamp", "outside the years"},
      {envelope_with("data", "[]"), "bad_data", "\"data\" is an array"},
      {envelope_with("data", "\"x\""), "bad_data", "\"data\" is a string"},
      {envelope_with("data", "5"), "bad_data", "\"data\" is an integer"},
      {envelope_with("hop_count", "-1"), "bad_hop_count", "\"hop_count\" -1"},
      {envelope_with("hop_count", "1.5"), "bad_hop_count", "\"hop_count\" 1.5"},
      {envelope_with("hop_count", "1.0"), "bad_hop_count", "\"hop_count\" 1.0"},
      {envelope_with("hop_count", "\"1\""), "bad_hop_count", "\"hop_count\""},
      {envelope_with("hop_count", "true"), "bad_hop_count", "\"hop_count\" true"},
      {envelope_with("hop_count", "2147483648"), "bad_hop_count", "2147483648"},
      {envelope_with("version", "0"), "bad_version", "\"version\" 0"},
      {envelope_with("version", "-1"), "bad_version", "\"version\" -1"},
      {envelope_with("version", "1.5"), "bad_version", "\"version\" 1.5"},
      {envelope_with("version", "\"1\""), "bad_version", "\"version\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.bytes.substr(0, 200));
    auto env = decode_envelope(bytes_of(c.bytes));
    ASSERT_FALSE(env);
    EXPECT_EQ(fault_label(env.error().fault), c.label);
    EXPECT_THAT(env.error().message, HasSubstr(c.message_part));

    auto result = parse_envelope(bytes_of(c.bytes));
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), ::testing::StartsWith(std::string(c.label) + ": "));
    EXPECT_EQ(result.error().code(), c.label == "too_large" ? ErrorCode::kTooLarge : ErrorCode::kInvalidArgument);

    Check check = check_message(kCoordinationTopic, bytes_of(c.bytes), peer(kPeerA));
    EXPECT_EQ(check.verdict, Verdict::kReject);
    EXPECT_EQ(check.reason, c.label);
  }
}

TEST(CoordEnvelope, LenientWhereGoIs) {
  // Go writes a nil map as null; its decoder leaves missing fields at zero values.
  auto env = decode_envelope(bytes_of(envelope_with("data", "null")));
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_EQ(env->data, Json::object());
  env = decode_envelope(bytes_of(envelope_with("data", "")));
  ASSERT_TRUE(env);
  EXPECT_EQ(env->data, Json::object());
  env = decode_envelope(bytes_of(envelope_with("hop_count", "null")));
  ASSERT_TRUE(env);
  EXPECT_EQ(env->hop_count, 0);
  env = decode_envelope(bytes_of(envelope_with("version", "null")));
  ASSERT_TRUE(env);
  EXPECT_EQ(env->version, 1);
  // Unknown fields are ignored, as Go ignores our `version`.
  env = decode_envelope(bytes_of(envelope_with("signature", "\"abc\"")));
  ASSERT_TRUE(env);
  // The CID form of a peer id is the same peer.
  env = decode_envelope(bytes_of(envelope_with("from", as_json(peer(kPeerA).to_cid()))));
  ASSERT_TRUE(env);
  Check check = check_message(kCoordinationTopic, bytes_of(envelope_with("from", as_json(peer(kPeerA).to_cid()))),
                              peer(kPeerA));
  EXPECT_TRUE(check.accepted()) << check.reason;
  // Exactly at the nesting limit is fine.
  Json deep = Json::object();
  for (int i = 0; i < kMaxJsonDepth - 2; ++i) deep = Json{{"x", deep}};
  env = decode_envelope(bytes_of(envelope_with("data", deep.dump())));
  EXPECT_TRUE(env) << env.error().message;
}

TEST(CoordEnvelope, UnknownTypesAndFutureVersionsAreAcceptedAndNoted) {
  auto text = envelope_with("type", "\"role_announcement\"");
  auto env = decode_envelope(bytes_of(text));
  ASSERT_TRUE(env);
  EXPECT_EQ(env->kind(), MessageType::kUnknown);
  EXPECT_EQ(env->type, "role_announcement");
  EXPECT_FALSE(should_relay(*env));
  for (std::string_view topic : {kCoordinationTopic, kHmmmTopic, kAntennaeTopic}) {
    Check check = check_message(topic, bytes_of(text), peer(kPeerA));
    EXPECT_EQ(check.verdict, Verdict::kAccept);
    EXPECT_EQ(check.reason, "unknown_type");
  }
  // Round trip keeps the unknown name.
  EXPECT_THAT(encode_envelope_text(*env), HasSubstr("\"type\":\"role_announcement\""));

  text = envelope_with("version", "2");
  env = decode_envelope(bytes_of(text));
  ASSERT_TRUE(env);
  EXPECT_EQ(env->version, 2);
  Check check = check_message(kCoordinationTopic, bytes_of(text), peer(kPeerA));
  EXPECT_EQ(check.verdict, Verdict::kAccept);
  EXPECT_EQ(check.reason, "future_version");
  EXPECT_THAT(encode_envelope_text(*env), HasSubstr(",\"version\":2}"));
}

// --- topics -----------------------------------------------------------------------

TEST(CoordTopics, KindsAndIssueTopics) {
  EXPECT_EQ(topic_kind("bzzz/coordination/v1"), TopicKind::kCoordination);
  EXPECT_EQ(topic_kind("hmmm/meta-discussion/v1"), TopicKind::kMetaDiscussion);
  EXPECT_EQ(topic_kind("antennae/meta-discussion/v1"), TopicKind::kMetaDiscussion);
  EXPECT_EQ(topic_kind("bzzz/meta/issue/42"), TopicKind::kIssue);
  EXPECT_EQ(topic_kind("bzzz/coordination/v2"), TopicKind::kOther);
  EXPECT_EQ(topic_kind("bzzz/test/coordination"), TopicKind::kOther);

  EXPECT_EQ(issue_topic(42), "bzzz/meta/issue/42");
  EXPECT_EQ(parse_issue_topic("bzzz/meta/issue/42"), 42u);
  EXPECT_EQ(parse_issue_topic("bzzz/meta/issue/1"), 1u);
  EXPECT_EQ(parse_issue_topic("bzzz/meta/issue/9223372036854775807"), 9223372036854775807u);
  for (std::string_view bad : {"bzzz/meta/issue/", "bzzz/meta/issue/0", "bzzz/meta/issue/042",
                               "bzzz/meta/issue/-1", "bzzz/meta/issue/+1", "bzzz/meta/issue/4a",
                               "bzzz/meta/issue/42/", "bzzz/meta/issue/9223372036854775808",
                               "bzzz/meta/issue/99999999999999999999", "bzzz/meta/issues/42"}) {
    EXPECT_EQ(parse_issue_topic(bad), std::nullopt) << bad;
  }
  for (uint64_t n : {1ull, 15ull, 1000000ull}) EXPECT_EQ(parse_issue_topic(issue_topic(n)), n);
}

TEST(CoordTopics, TypesAndTheirTopics) {
  for (MessageType type : known_message_types()) {
    EXPECT_EQ(message_type(type_name(type)), type);
    const bool meta = is_meta_discussion(type);
    EXPECT_EQ(allowed_on(type, TopicKind::kCoordination), !meta) << type_name(type);
    EXPECT_EQ(allowed_on(type, TopicKind::kMetaDiscussion), meta) << type_name(type);
    EXPECT_EQ(allowed_on(type, TopicKind::kIssue), meta) << type_name(type);
    EXPECT_FALSE(allowed_on(type, TopicKind::kOther));
  }
  EXPECT_EQ(home_topic(MessageType::kAvailabilityBroadcast), TopicKind::kCoordination);
  EXPECT_EQ(home_topic(MessageType::kEscalationTrigger), TopicKind::kMetaDiscussion);
  EXPECT_EQ(message_type("plan_proposal"), MessageType::kUnknown);
  EXPECT_EQ(type_name(MessageType::kUnknown), "");
  EXPECT_TRUE(allowed_on(MessageType::kUnknown, TopicKind::kCoordination));
}

TEST(CoordTopics, WrongAndUnknownTopicsAreIgnored) {
  const std::string claim = read_fixture("task_claim");
  Check check = check_message(kAntennaeTopic, bytes_of(claim), peer(kPeerB));
  EXPECT_EQ(check.verdict, Verdict::kIgnore);
  EXPECT_EQ(check.reason, "wrong_topic");
  check = check_message(issue_topic(15), bytes_of(claim), peer(kPeerB));
  EXPECT_EQ(check.reason, "wrong_topic");

  const std::string discussion = read_fixture("meta_discussion");
  check = check_message(kCoordinationTopic, bytes_of(discussion), peer(kPeerA));
  EXPECT_EQ(check.verdict, Verdict::kIgnore);
  EXPECT_EQ(check.reason, "wrong_topic");
  // hmmm/ is the same conversation as antennae/.
  EXPECT_TRUE(check_message(kHmmmTopic, bytes_of(discussion), peer(kPeerA)).accepted());

  check = check_message("some/other/topic", bytes_of(discussion), peer(kPeerA));
  EXPECT_EQ(check.verdict, Verdict::kIgnore);
  EXPECT_EQ(check.reason, "unknown_topic");
}

// --- the hop rule -------------------------------------------------------------------

TEST(CoordHops, RelayedUpToThreeThenStopped) {
  const auto a = peer(kPeerA), b = peer(kPeerB), c = peer(kPeerC);
  Envelope env = make_envelope(MessageType::kMetaDiscussion, a, Json{{"issue_id", 15}, {"message", "hi"}},
                               utc(2025, 7, 14, 10, 0, 0));
  const std::vector<p2p::PeerId> relayers = {b, c, a};
  const std::vector<std::string> topics = {std::string(kAntennaeTopic), std::string(kHmmmTopic), issue_topic(15)};
  p2p::PeerId signer = a;
  for (int hop = 0; hop <= kMaxHops; ++hop) {
    SCOPED_TRACE(hop);
    EXPECT_EQ(env.hop_count, hop);
    const std::string wire = encode_envelope_text(env);
    EXPECT_EQ(wire.find("hop_count") != std::string::npos, hop != 0);  // omitempty, as Go
    for (const auto& topic : topics) {
      EXPECT_TRUE(check_message(topic, bytes_of(wire), signer).accepted()) << topic;
    }
    if (hop < kMaxHops) {
      ASSERT_TRUE(should_relay(env));
      signer = relayers[static_cast<size_t>(hop)];
      Envelope next = relayed(env, signer);
      EXPECT_EQ(next.from, signer.to_string());
      EXPECT_EQ(next.type, env.type);
      EXPECT_EQ(next.data, env.data);
      EXPECT_EQ(next.timestamp.text, env.timestamp.text);
      env = std::move(next);
    } else {
      EXPECT_FALSE(should_relay(env));
    }
  }

  // A fourth hop, from a peer that ignored the rule: not delivered, not forwarded.
  Envelope over = relayed(env, b);
  ASSERT_EQ(over.hop_count, 4);
  const std::string wire = encode_envelope_text(over);
  for (const auto& topic : topics) {
    Check check = check_message(topic, bytes_of(wire), b);
    EXPECT_EQ(check.verdict, Verdict::kIgnore) << topic;
    EXPECT_EQ(check.reason, "hop_limit");
  }
}

TEST(CoordHops, OnlyDiscussionTypesRelayAndOnlyDiscussionTopicsLimit) {
  const auto a = peer(kPeerA);
  Envelope claim = make_envelope(MessageType::kTaskClaim, a, Json{{"task_id", 1}}, utc(2025, 7, 14, 10, 0, 0));
  EXPECT_FALSE(should_relay(claim));
  for (MessageType type : known_message_types()) {
    Envelope env = make_envelope(type, a, Json::object(), utc(2025, 7, 14, 10, 0, 0));
    EXPECT_EQ(should_relay(env), is_meta_discussion(type)) << type_name(type);
  }
  // The original never sets hop_count on coordination messages; it is not limited there.
  claim.hop_count = 9;
  EXPECT_TRUE(check_message(kCoordinationTopic, bytes_of(encode_envelope_text(claim)), a).accepted());
}

// --- encoding ------------------------------------------------------------------------

TEST(CoordEncode, OurOwnMessagesInGoShape) {
  Envelope env = make_envelope(MessageType::kAvailabilityBroadcast, peer(kPeerA),
                               Json{{"status", "ready"}, {"node_id", kPeerA}, {"current_tasks", 0}},
                               utc(2025, 7, 14, 10, 31, 7, 120000000));
  EXPECT_EQ(encode_envelope_text(env),
            "{\"type\":\"availability_broadcast\",\"from\":\"" + std::string(kPeerA) +
                "\",\"timestamp\":\"2025-07-14T10:31:07.12Z\",\"data\":{\"current_tasks\":0,\"node_id\":\"" +
                std::string(kPeerA) + "\",\"status\":\"ready\"},\"version\":1}");
  auto back = decode_envelope(encode_envelope(env));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->timestamp.time, env.timestamp.time);
  EXPECT_EQ(back->data, env.data);

  // Null data is {}; a timestamp without text is formatted.
  env = make_envelope(MessageType::kTaskProgress, peer(kPeerA), nullptr, utc(2025, 1, 1, 0, 0, 0));
  env.timestamp.text.clear();
  EXPECT_THAT(encode_envelope_text(env), HasSubstr("\"timestamp\":\"2025-01-01T00:00:00Z\",\"data\":{},"));
}

TEST(CoordEncode, EscapesAsGoDoes) {
  Envelope env = make_envelope(MessageType::kMetaDiscussion, peer(kPeerA),
                               Json{{"m", "a<b>&c\u2028d\u2029e\n\t\"\\ \x01 \xc3\xa9"}}, utc(2025, 7, 14, 0, 0, 0));
  EXPECT_THAT(encode_envelope_text(env),
              HasSubstr("\"m\":\"a\\u003cb\\u003e\\u0026c\\u2028d\\u2029e\\n\\t\\\"\\\\ \\u0001 \xc3\xa9\""));
  // Our own invalid UTF-8 comes out as U+FFFD, as Go writes it.
  env.data = Json{{"m", std::string("x\xff")}};
  EXPECT_THAT(encode_envelope_text(env), HasSubstr("\"m\":\"x\xef\xbf\xbd\""));
}

// --- RFC 3339 ----------------------------------------------------------------------

TEST(CoordTime, FormatsLikeGoUtc) {
  EXPECT_EQ(format_rfc3339(utc(2025, 7, 14, 10, 31, 7)), "2025-07-14T10:31:07Z");
  EXPECT_EQ(format_rfc3339(utc(2025, 7, 14, 10, 31, 7, 500000000)), "2025-07-14T10:31:07.5Z");
  EXPECT_EQ(format_rfc3339(utc(2025, 7, 14, 10, 31, 7, 1)), "2025-07-14T10:31:07.000000001Z");
  EXPECT_EQ(format_rfc3339(utc(2025, 7, 14, 10, 31, 7, 123456789)), "2025-07-14T10:31:07.123456789Z");
  EXPECT_EQ(format_rfc3339(utc(1969, 12, 31, 23, 59, 59, 900000000)), "1969-12-31T23:59:59.9Z");
  EXPECT_EQ(format_rfc3339(utc(1970, 1, 1, 0, 0, 0)), "1970-01-01T00:00:00Z");
}

TEST(CoordTime, ParsesOffsetsFractionsAndRange) {
  EXPECT_EQ(*parse_rfc3339("2025-07-14T20:31:07.123456789+10:00"), utc(2025, 7, 14, 10, 31, 7, 123456789));
  EXPECT_EQ(*parse_rfc3339("2025-07-14T05:01:07-05:30"), utc(2025, 7, 14, 10, 31, 7));
  EXPECT_EQ(*parse_rfc3339("2025-07-14T00:30:00+01:00"), utc(2025, 7, 13, 23, 30, 0));
  EXPECT_EQ(*parse_rfc3339("2025-07-14T10:31:07.1234567891234Z"), utc(2025, 7, 14, 10, 31, 7, 123456789));
  EXPECT_EQ(*parse_rfc3339("2024-02-29T00:00:00Z"), utc(2024, 2, 29, 0, 0, 0));
  EXPECT_EQ(*parse_rfc3339("1969-12-31T23:59:59.9Z"), utc(1969, 12, 31, 23, 59, 59, 900000000));
  EXPECT_TRUE(parse_rfc3339("1678-01-01T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2261-12-31T23:59:59.999999999Z"));
  EXPECT_FALSE(parse_rfc3339("1677-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2263-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339(""));
  EXPECT_FALSE(parse_rfc3339("2025-07-14"));
  EXPECT_FALSE(parse_rfc3339("2025-7-14T10:31:07Z"));
  EXPECT_FALSE(parse_rfc3339("2025-13-14T10:31:07Z"));
  EXPECT_FALSE(parse_rfc3339("2025-07-14T10:60:07Z"));
  EXPECT_FALSE(parse_rfc3339("2025-07-14T10:31:07+10:60"));
  EXPECT_FALSE(parse_rfc3339("2025-07-14T10:31:07+10"));
  for (std::string_view text : {"2025-07-14T10:31:07Z", "2025-07-14T10:31:07.5Z", "2025-07-14T10:31:07.000000001Z"}) {
    EXPECT_EQ(format_rfc3339(*parse_rfc3339(text)), text);
  }
}

// --- the gossipsub adapter ----------------------------------------------------------

TEST(CoordPubsub, AdapterMapsVerdictsAndReportsNotes) {
  std::vector<std::string> seen;
  auto validator = pubsub_validator([&](const Check& check) { seen.emplace_back(check.reason); });

  p2p::pubsub::Message message;
  message.from = peer(kPeerB);
  message.received_from = peer(kPeerC);
  message.topic = std::string(kCoordinationTopic);
  const std::string claim = read_fixture("task_claim");
  message.data.assign(claim.begin(), claim.end());
  EXPECT_EQ(validator(message).verdict, p2p::pubsub::Verdict::kAccept);

  message.from = peer(kPeerA);
  auto v = validator(message);
  EXPECT_EQ(v.verdict, p2p::pubsub::Verdict::kReject);
  EXPECT_EQ(v.reason, "from_mismatch");

  message.from = peer(kPeerB);
  message.topic = std::string(kHmmmTopic);
  v = validator(message);
  EXPECT_EQ(v.verdict, p2p::pubsub::Verdict::kIgnore);
  EXPECT_EQ(v.reason, "wrong_topic");

  const std::string unknown = envelope_with("type", "\"plan_proposal\"");
  message.from = peer(kPeerA);
  message.data.assign(unknown.begin(), unknown.end());
  v = validator(message);
  EXPECT_EQ(v.verdict, p2p::pubsub::Verdict::kAccept);
  EXPECT_EQ(v.reason, "");
  EXPECT_EQ(seen, (std::vector<std::string>{"", "from_mismatch", "wrong_topic", "unknown_type"}));
}

}  // namespace
}  // namespace bzzz::coord
