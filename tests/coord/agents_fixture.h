// Test support for coord/agents: the Go fixtures (tests/coord/fixtures/v1), a sample
// profile, and comparing our JSON with Go's by keys and kinds.
#pragma once

#include <fstream>
#include <set>
#include <span>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "coord/agents/profile.h"
#include "coord/messages/envelope.h"

namespace bzzz::coord::testing {

using Json = nlohmann::json;

inline std::string read_fixture(std::string_view name) {
  std::ifstream in(std::string(BZZZ_COORD_FIXTURES) + "/v1/" + std::string(name) + ".json", std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline Envelope fixture_envelope(std::string_view name) {
  const std::string text = read_fixture(name);
  auto envelope = parse_envelope(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  EXPECT_TRUE(envelope) << name;
  return *envelope;
}

inline TimePoint utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  return TimePoint(std::chrono::sys_days(std::chrono::year(y) / mo / d)) + std::chrono::hours(h) +
         std::chrono::minutes(mi) + std::chrono::seconds(s);
}

inline AgentProfile walnut() {
  AgentProfile p;
  p.id = "walnut-agent";
  p.role = "backend_developer";
  p.capabilities = {"code-generation", "code-review", "task-coordination"};
  p.specialization = "code_generation";
  p.models = {"phi3", "llama3.1:8b"};
  p.max_tasks = 3;
  return p;
}

// The JSON kind a Go reader sees: unsigned and signed integers are both "integer".
inline std::string kind(const Json& v) {
  if (v.is_number_integer()) return "integer";  // includes unsigned
  if (v.is_number_float()) return "float";
  if (v.is_array()) {
    std::string k = "array";
    for (const auto& item : v) k += item.is_string() ? "" : "+nonstring";
    return k;
  }
  return v.type_name();
}

// `ours` has every key of `go` with the same kind; returns the keys it has beyond them.
inline std::set<std::string> extra_keys(const Json& go, const Json& ours) {
  std::set<std::string> extra;
  for (const auto& [key, value] : ours.items()) {
    if (!go.contains(key)) extra.insert(key);
  }
  for (const auto& [key, value] : go.items()) {
    EXPECT_TRUE(ours.contains(key)) << "missing " << key;
    if (ours.contains(key)) {
      EXPECT_EQ(kind(ours[key]), kind(value)) << key;
    }
  }
  return extra;
}

inline AgentProfile named(std::string id) {
  AgentProfile p;
  p.id = std::move(id);
  return p;
}

inline AgentProfile negative_tasks() {
  AgentProfile p = walnut();
  p.max_tasks = -2;
  return p;
}

}  // namespace bzzz::coord::testing
