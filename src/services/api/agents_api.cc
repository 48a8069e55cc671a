#include "services/api/agents_api.h"

#include "services/http/exchange.h"

namespace bzzz::api {

namespace asio = boost::asio;
using boost::beast::http::verb;
using http::Exchange;
using http::Status_;

void AgentsApi::add_routes(http::Router& router) {
  router.add(verb::get, "/v1/agents", [this](Exchange& ex) -> asio::awaitable<void> {
    nlohmann::json agents = nlohmann::json::array();
    nlohmann::json self = nullptr;
    if (agent_) {
      self = coord::profile_json(agent_->profile());
      for (const auto& rec : agent_->registry().list()) agents.push_back(coord::to_json(rec));
    }
    nlohmann::json doc = {{"self", self}, {"agents", agents}};
    co_await ex.send_json(Status_::ok, doc);
  });
}

}  // namespace bzzz::api
