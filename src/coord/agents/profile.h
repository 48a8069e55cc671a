// coord/agents: what an agent says about itself on bzzz/coordination/v1, as pure
// functions: our profile to the `data` of the original BZZZ's capability_broadcast and
// availability_broadcast, and a received `data` back to what it says.
//
// Owns those two data shapes; no I/O, no clock (callers pass the time). Depends on
// coord/messages (TimePoint) and p2p/identity only.
//
// The shapes are the original's main.go maps (announceCapabilitiesOnChange,
// announceAvailability; tests/coord/fixtures/v1 has one of each, written by Go):
//   capability_broadcast:   {node_id, capabilities[], models[], version, specialization,
//                            timestamp (unix s), reason} + ours: agent_id, role
//   availability_broadcast: {node_id, available_for_work, current_tasks, max_tasks,
//                            last_activity (unix s), status, timestamp (unix s)}
// Go holds them in map[string]interface{} and only prints them, so the two keys we add
// are harmless to it; the original had no role and no agent id on the wire (its v2 put
// the role in separate messages we have not seen). `node_id` is our full peer id; the
// original wrote go-libp2p's ShortString ("<peer.ID 12*vnc6iDEp>"), which nobody parses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status/result.h"
#include "coord/messages/rfc3339.h"
#include "p2p/identity/peer_id.h"

namespace bzzz::coord {

// The original's availability statuses, derived from the task counts.
inline constexpr std::string_view kStatusReady = "ready";      // no task
inline constexpr std::string_view kStatusWorking = "working";  // some, below max_tasks
inline constexpr std::string_view kStatusBusy = "busy";        // max_tasks or more

// The `reason` of a capability_broadcast. The first five are the original's
// getChangeReason; the last two are ours: the same capabilities sent again because a
// peer joined the topic after we last sent them, or because a while has passed.
inline constexpr std::string_view kReasonStartup = "startup";
inline constexpr std::string_view kReasonModels = "model_change";
inline constexpr std::string_view kReasonCapabilities = "capability_change";
inline constexpr std::string_view kReasonSpecialization = "specialization_change";
inline constexpr std::string_view kReasonOther = "unknown_change";  // role or agent id
inline constexpr std::string_view kReasonNewPeer = "new_peer";
inline constexpr std::string_view kReasonRefresh = "refresh";

// What we read from others and write ourselves is bounded: a list longer than this, or
// a string longer than kMaxTextBytes, is dropped (never cut: a cut could split UTF-8).
inline constexpr size_t kMaxListItems = 256;
inline constexpr size_t kMaxTextBytes = 1024;

struct AgentProfile {
  std::string id;  // agent.id; the announcer uses the node's peer id when empty
  std::string role;
  std::vector<std::string> capabilities;
  std::string specialization;
  std::vector<std::string> models;
  int max_tasks = 3;  // the original's default
  // Load, sent in availability broadcasts only.
  int current_tasks = 0;
  // Empty: derived from the counts as the original does (ready/working/busy). Anything
  // else (e.g. "paused", "offline") is sent as is, with available_for_work false unless
  // it is "ready" or "working".
  std::string status;
};

// max_tasks and current_tasks not negative; strings within kMaxTextBytes, lists within
// kMaxListItems; no empty capability or model.
Status validate_profile(const AgentProfile& profile);

std::string effective_status(const AgentProfile& profile);
bool available_for_work(const AgentProfile& profile);

// Why a capability_broadcast is due after `before` became `after`, as the original
// orders it (models, then capabilities, then specialization), kReasonOther for a role
// or id change, "" when none of those changed (a load change is not one).
std::string_view capability_change(const AgentProfile& before, const AgentProfile& after);

// `node` is the publishing node; `version` the agent software's version (the original
// wrote "0.2.0"); `now` gives `timestamp`.
nlohmann::json capability_data(const AgentProfile& profile, const p2p::PeerId& node, std::string_view reason,
                               std::string_view version, TimePoint now);
// `last_activity` is `now`, as in the original.
nlohmann::json availability_data(const AgentProfile& profile, const p2p::PeerId& node, TimePoint now);

// The profile as the node's API shows it: {id, role, capabilities, specialization,
// models, max_tasks, current_tasks, status (effective), available_for_work}.
nlohmann::json profile_json(const AgentProfile& profile);

// A received broadcast's data, read as leniently as Go's map reader allows: a missing
// or null field keeps its default, numbers may be floats (Go's decoder makes every
// number one). `well_formed` is false when a field was present with the wrong type or
// over the bounds; whatever else was there is still read.
struct CapabilityInfo {
  std::string node_id;  // as sent; informational (the envelope's `from` is what counts)
  std::string agent_id;
  std::string role;
  std::vector<std::string> capabilities;
  std::vector<std::string> models;
  std::string specialization;
  std::string version;
  std::string reason;
  int64_t timestamp = 0;  // unix seconds
  bool well_formed = true;
};
struct AvailabilityInfo {
  std::string node_id;
  std::string status;
  bool available_for_work = false;
  int64_t current_tasks = 0;
  int64_t max_tasks = 0;
  int64_t last_activity = 0;  // unix seconds
  int64_t timestamp = 0;      // unix seconds
  bool well_formed = true;
};
CapabilityInfo read_capability_data(const nlohmann::json& data);
AvailabilityInfo read_availability_data(const nlohmann::json& data);

}  // namespace bzzz::coord
