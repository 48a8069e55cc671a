// coord/agents: the agents this node has heard on bzzz/coordination/v1: per publishing
// peer, its last capability_broadcast and availability_broadcast and when they came.
//
// Owns that table and the bzzz_coord_agents_known gauge; no I/O, no topics (the
// CoordinationAgent feeds it envelopes its validator accepted). Depends on
// coord/messages, p2p/identity, profile.h and prometheus-cpp. Thread-safe: one mutex,
// held for table work only.
//
// Decisions:
// - Keyed by the envelope's `from` (the validator made sure it is the gossipsub signer),
//   never by the `node_id` or `agent_id` inside `data`, which anyone can write.
// - Times are local receipt times from the registry's clock, not the sender's
//   timestamps, so a peer with a wrong clock can be neither stale nor immortal.
// - An agent not heard from for `ttl` is reported stale (still listed, `stale` set, not
//   counted as known); after `forget_after` it is dropped. At `max_agents` a new peer
//   evicts the one heard from longest ago: anyone can make peer ids.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "coord/agents/profile.h"
#include "coord/messages/envelope.h"

namespace prometheus {
class Registry;
class Gauge;
}  // namespace prometheus

namespace bzzz::coord {

struct AgentRecord {
  std::string peer;  // base58 peer id of the publisher
  std::optional<CapabilityInfo> capability;
  TimePoint capability_received{};
  std::string capability_sent;  // the envelope's timestamp text, as the sender wrote it
  std::optional<AvailabilityInfo> availability;
  TimePoint availability_received{};
  std::string availability_sent;
  TimePoint first_seen{};
  TimePoint last_seen{};
  uint64_t broadcasts = 0;  // capability and availability broadcasts received
  bool stale = false;       // set by list() and get(): not heard from for the ttl
};

// The record as GET /v1/agents shows it:
//   {"peer","stale","first_seen","last_seen","broadcasts",
//    "profile":{agent_id,role,capabilities,models,specialization,version,reason,node_id,
//               sent,received} or null,
//    "availability":{status,available_for_work,current_tasks,max_tasks,last_activity,
//                    node_id,sent,received} or null}
// Times in RFC 3339 UTC; `sent` as the sender wrote it.
nlohmann::json to_json(const AgentRecord& record);

class AgentRegistry {
 public:
  struct Options {
    std::chrono::milliseconds ttl{90'000};            // 3 × the original's 30 s
    std::chrono::milliseconds forget_after{600'000};  // at least ttl
    size_t max_agents = 4096;
    std::function<TimePoint()> clock;  // empty: the system clock
  };

  explicit AgentRegistry(Options options, prometheus::Registry* metrics = nullptr);

  // Records a capability_broadcast or availability_broadcast from envelope.from; false
  // (nothing recorded) for any other type or a `from` that is not a peer id.
  bool observe(const Envelope& envelope);

  // Every agent not yet forgotten, by peer id, with `stale` set.
  std::vector<AgentRecord> list() const;
  // `peer` in either text form (base58 or CID).
  std::optional<AgentRecord> get(std::string_view peer) const;
  // Agents heard from within the ttl.
  size_t known() const;
  // Drops forgotten agents and refreshes the gauge (the agent calls it every interval).
  void sweep();

  const Options& options() const { return options_; }

 private:
  TimePoint now() const;
  AgentRecord snapshot(const AgentRecord& record, TimePoint now) const;
  size_t known_locked(TimePoint now) const;
  void evict_oldest_locked();

  Options options_;
  prometheus::Gauge* known_gauge_ = nullptr;
  mutable std::mutex mutex_;
  std::map<std::string, AgentRecord, std::less<>> agents_;
};

}  // namespace bzzz::coord
