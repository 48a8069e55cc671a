// services/api: GET /v1/agents: this node's agent (its profile) and every agent heard
// on the original BZZZ's coordination topic, with its capabilities, availability and
// whether it went quiet (stale). Depends on services/http and coord/agents.
#pragma once

#include <memory>

#include "coord/agents/coordination_agent.h"
#include "services/http/router.h"

namespace bzzz::api {

class AgentsApi {
 public:
  // `agent` may be null (agent.enabled = false): the list is then empty.
  explicit AgentsApi(std::shared_ptr<coord::CoordinationAgent> agent) : agent_(std::move(agent)) {}
  void add_routes(http::Router& router);

 private:
  std::shared_ptr<coord::CoordinationAgent> agent_;
};

}  // namespace bzzz::api
