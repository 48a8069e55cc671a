#include "coord/agents/registry.h"

#include <algorithm>

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "p2p/identity/peer_id.h"

namespace bzzz::coord {
namespace {

using Json = nlohmann::json;

TimePoint system_now() {
  return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
}

Json text_or_null(const std::string& text) { return text.empty() ? Json(nullptr) : Json(text); }

}  // namespace

Json to_json(const AgentRecord& record) {
  Json out = Json::object();
  out["peer"] = record.peer;
  out["stale"] = record.stale;
  out["first_seen"] = format_rfc3339(record.first_seen);
  out["last_seen"] = format_rfc3339(record.last_seen);
  out["broadcasts"] = record.broadcasts;
  if (record.capability) {
    const CapabilityInfo& c = *record.capability;
    out["profile"] = Json{
        {"agent_id", c.agent_id},
        {"role", c.role},
        {"capabilities", c.capabilities},
        {"models", c.models},
        {"specialization", c.specialization},
        {"version", c.version},
        {"reason", c.reason},
        {"node_id", c.node_id},
        {"sent", text_or_null(record.capability_sent)},
        {"received", format_rfc3339(record.capability_received)},
    };
  } else {
    out["profile"] = nullptr;
  }
  if (record.availability) {
    const AvailabilityInfo& a = *record.availability;
    out["availability"] = Json{
        {"status", a.status},
        {"available_for_work", a.available_for_work},
        {"current_tasks", a.current_tasks},
        {"max_tasks", a.max_tasks},
        {"last_activity", a.last_activity},
        {"node_id", a.node_id},
        {"sent", text_or_null(record.availability_sent)},
        {"received", format_rfc3339(record.availability_received)},
    };
  } else {
    out["availability"] = nullptr;
  }
  return out;
}

AgentRegistry::AgentRegistry(Options options, prometheus::Registry* metrics) : options_(std::move(options)) {
  options_.forget_after = std::max(options_.forget_after, options_.ttl);
  options_.max_agents = std::max<size_t>(options_.max_agents, 1);
  if (metrics != nullptr) {
    known_gauge_ = &prometheus::BuildGauge()
                        .Name("bzzz_coord_agents_known")
                        .Help("Agents heard on bzzz/coordination/v1 within the registry's ttl")
                        .Register(*metrics)
                        .Add({});
  }
}

TimePoint AgentRegistry::now() const { return options_.clock ? options_.clock() : system_now(); }

bool AgentRegistry::observe(const Envelope& envelope) {
  const MessageType type = envelope.kind();
  if (type != MessageType::kCapabilityBroadcast && type != MessageType::kAvailabilityBroadcast) return false;
  auto peer = p2p::PeerId::parse(envelope.from);
  if (!peer) return false;
  std::string key = peer->to_string();

  // Read outside the lock: the data may be large.
  std::optional<CapabilityInfo> capability;
  std::optional<AvailabilityInfo> availability;
  if (type == MessageType::kCapabilityBroadcast) {
    capability = read_capability_data(envelope.data);
  } else {
    availability = read_availability_data(envelope.data);
  }

  const TimePoint at = now();
  std::lock_guard lock(mutex_);
  auto it = agents_.find(key);
  if (it == agents_.end()) {
    if (agents_.size() >= options_.max_agents) evict_oldest_locked();
    AgentRecord fresh;
    fresh.peer = key;
    fresh.first_seen = at;
    it = agents_.emplace(std::move(key), std::move(fresh)).first;
  }
  AgentRecord& record = it->second;
  if (capability) {
    record.capability = std::move(capability);
    record.capability_received = at;
    record.capability_sent = envelope.timestamp.text;
  } else {
    record.availability = std::move(availability);
    record.availability_received = at;
    record.availability_sent = envelope.timestamp.text;
  }
  record.last_seen = at;
  ++record.broadcasts;
  if (known_gauge_ != nullptr) known_gauge_->Set(static_cast<double>(known_locked(at)));
  return true;
}

AgentRecord AgentRegistry::snapshot(const AgentRecord& record, TimePoint at) const {
  AgentRecord copy = record;
  copy.stale = at - record.last_seen > options_.ttl;
  return copy;
}

std::vector<AgentRecord> AgentRegistry::list() const {
  const TimePoint at = now();
  std::vector<AgentRecord> out;
  std::lock_guard lock(mutex_);
  out.reserve(agents_.size());
  for (const auto& [peer, record] : agents_) {
    if (at - record.last_seen > options_.forget_after) continue;
    out.push_back(snapshot(record, at));
  }
  return out;
}

std::optional<AgentRecord> AgentRegistry::get(std::string_view peer) const {
  auto id = p2p::PeerId::parse(peer);
  if (!id) return std::nullopt;
  const TimePoint at = now();
  std::lock_guard lock(mutex_);
  auto it = agents_.find(id->to_string());
  if (it == agents_.end() || at - it->second.last_seen > options_.forget_after) return std::nullopt;
  return snapshot(it->second, at);
}

size_t AgentRegistry::known() const {
  const TimePoint at = now();
  std::lock_guard lock(mutex_);
  return known_locked(at);
}

size_t AgentRegistry::known_locked(TimePoint at) const {
  return static_cast<size_t>(std::count_if(agents_.begin(), agents_.end(), [&](const auto& entry) {
    return at - entry.second.last_seen <= options_.ttl;
  }));
}

void AgentRegistry::sweep() {
  const TimePoint at = now();
  std::lock_guard lock(mutex_);
  std::erase_if(agents_, [&](const auto& entry) { return at - entry.second.last_seen > options_.forget_after; });
  if (known_gauge_ != nullptr) known_gauge_->Set(static_cast<double>(known_locked(at)));
}

void AgentRegistry::evict_oldest_locked() {
  auto oldest = std::min_element(agents_.begin(), agents_.end(), [](const auto& a, const auto& b) {
    return a.second.last_seen < b.second.last_seen;
  });
  if (oldest != agents_.end()) agents_.erase(oldest);
}

}  // namespace bzzz::coord
