#include "coord/agents/profile.h"

#include <chrono>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace bzzz::coord {
namespace {

using Json = nlohmann::json;

int64_t unix_seconds(TimePoint time) {
  return std::chrono::floor<std::chrono::seconds>(time).time_since_epoch().count();
}

Status check_text(std::string_view field, const std::string& text) {
  if (text.size() > kMaxTextBytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("agent {} is {} bytes, over the limit of {}", field, text.size(), kMaxTextBytes));
  }
  return ok();
}

Status check_list(std::string_view field, const std::vector<std::string>& items) {
  if (items.size() > kMaxListItems) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("agent {} has {} entries, over the limit of {}", field, items.size(), kMaxListItems));
  }
  for (const auto& item : items) {
    if (item.empty()) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("agent {} has an empty entry", field));
    }
    BZZZ_TRY(check_text(field, item));
  }
  return ok();
}

// The readers below note a wrong type in `well_formed` and keep the default.
const Json* present(const Json& data, std::string_view key) {
  if (!data.is_object()) return nullptr;
  auto it = data.find(key);
  if (it == data.end() || it->is_null()) return nullptr;
  return &*it;
}

void read_text(const Json& data, std::string_view key, std::string& out, bool& well_formed) {
  const Json* value = present(data, key);
  if (value == nullptr) return;
  if (!value->is_string() || value->get_ref<const std::string&>().size() > kMaxTextBytes) {
    well_formed = false;
    return;
  }
  out = value->get<std::string>();
}

void read_list(const Json& data, std::string_view key, std::vector<std::string>& out, bool& well_formed) {
  const Json* value = present(data, key);
  if (value == nullptr) return;
  if (!value->is_array() || value->size() > kMaxListItems) {
    well_formed = false;
    return;
  }
  for (const auto& item : *value) {
    if (!item.is_string() || item.get_ref<const std::string&>().size() > kMaxTextBytes) {
      well_formed = false;
      continue;
    }
    out.push_back(item.get<std::string>());
  }
}

void read_int(const Json& data, std::string_view key, int64_t& out, bool& well_formed) {
  const Json* value = present(data, key);
  if (value == nullptr) return;
  if (value->is_number_unsigned()) {
    const uint64_t v = value->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      well_formed = false;
      return;
    }
    out = static_cast<int64_t>(v);
  } else if (value->is_number_integer()) {
    out = value->get<int64_t>();
  } else if (value->is_number_float()) {
    // Go's decoder turns every number into a float64, so a Go relay may send 3.0.
    const double v = value->get<double>();
    if (!std::isfinite(v) || std::fabs(v) >= 9.2e18 || v != std::trunc(v)) {
      well_formed = false;
      return;
    }
    out = static_cast<int64_t>(v);
  } else {
    well_formed = false;
  }
}

void read_bool(const Json& data, std::string_view key, bool& out, bool& well_formed) {
  const Json* value = present(data, key);
  if (value == nullptr) return;
  if (!value->is_boolean()) {
    well_formed = false;
    return;
  }
  out = value->get<bool>();
}

}  // namespace

Status validate_profile(const AgentProfile& profile) {
  if (profile.max_tasks < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("agent max_tasks is {}; it cannot be negative", profile.max_tasks));
  }
  if (profile.current_tasks < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("agent current_tasks is {}; it cannot be negative", profile.current_tasks));
  }
  BZZZ_TRY(check_text("id", profile.id));
  BZZZ_TRY(check_text("role", profile.role));
  BZZZ_TRY(check_text("specialization", profile.specialization));
  BZZZ_TRY(check_text("status", profile.status));
  BZZZ_TRY(check_list("capabilities", profile.capabilities));
  BZZZ_TRY(check_list("models", profile.models));
  return ok();
}

std::string effective_status(const AgentProfile& profile) {
  if (!profile.status.empty()) return profile.status;
  if (profile.current_tasks >= profile.max_tasks) return std::string(kStatusBusy);
  if (profile.current_tasks > 0) return std::string(kStatusWorking);
  return std::string(kStatusReady);
}

bool available_for_work(const AgentProfile& profile) {
  if (profile.current_tasks >= profile.max_tasks) return false;
  return profile.status.empty() || profile.status == kStatusReady || profile.status == kStatusWorking;
}

std::string_view capability_change(const AgentProfile& before, const AgentProfile& after) {
  if (before.models != after.models) return kReasonModels;
  if (before.capabilities != after.capabilities) return kReasonCapabilities;
  if (before.specialization != after.specialization) return kReasonSpecialization;
  if (before.role != after.role || before.id != after.id) return kReasonOther;
  return {};
}

nlohmann::json capability_data(const AgentProfile& profile, const p2p::PeerId& node, std::string_view reason,
                               std::string_view version, TimePoint now) {
  // Lists are written as [] even when empty (Go writes a nil slice as null; both read
  // back as empty).
  Json data = Json::object();
  data["node_id"] = node.to_string();
  data["capabilities"] = Json(profile.capabilities);
  data["models"] = Json(profile.models);
  data["version"] = std::string(version);
  data["specialization"] = profile.specialization;
  data["timestamp"] = unix_seconds(now);
  data["reason"] = std::string(reason);
  data["agent_id"] = profile.id;
  data["role"] = profile.role;
  return data;
}

nlohmann::json availability_data(const AgentProfile& profile, const p2p::PeerId& node, TimePoint now) {
  Json data = Json::object();
  data["node_id"] = node.to_string();
  data["available_for_work"] = available_for_work(profile);
  data["current_tasks"] = profile.current_tasks;
  data["max_tasks"] = profile.max_tasks;
  data["last_activity"] = unix_seconds(now);
  data["status"] = effective_status(profile);
  data["timestamp"] = unix_seconds(now);
  return data;
}

nlohmann::json profile_json(const AgentProfile& profile) {
  return Json{
      {"id", profile.id},
      {"role", profile.role},
      {"capabilities", profile.capabilities},
      {"specialization", profile.specialization},
      {"models", profile.models},
      {"max_tasks", profile.max_tasks},
      {"current_tasks", profile.current_tasks},
      {"status", effective_status(profile)},
      {"available_for_work", available_for_work(profile)},
  };
}

CapabilityInfo read_capability_data(const nlohmann::json& data) {
  CapabilityInfo info;
  bool& wf = info.well_formed;
  read_text(data, "node_id", info.node_id, wf);
  read_text(data, "agent_id", info.agent_id, wf);
  read_text(data, "role", info.role, wf);
  read_list(data, "capabilities", info.capabilities, wf);
  read_list(data, "models", info.models, wf);
  read_text(data, "specialization", info.specialization, wf);
  read_text(data, "version", info.version, wf);
  read_text(data, "reason", info.reason, wf);
  read_int(data, "timestamp", info.timestamp, wf);
  return info;
}

AvailabilityInfo read_availability_data(const nlohmann::json& data) {
  AvailabilityInfo info;
  bool& wf = info.well_formed;
  read_text(data, "node_id", info.node_id, wf);
  read_text(data, "status", info.status, wf);
  read_bool(data, "available_for_work", info.available_for_work, wf);
  read_int(data, "current_tasks", info.current_tasks, wf);
  read_int(data, "max_tasks", info.max_tasks, wf);
  read_int(data, "last_activity", info.last_activity, wf);
  read_int(data, "timestamp", info.timestamp, wf);
  return info;
}

}  // namespace bzzz::coord
