// services/api: the REST face of gossipsub. POST /v1/pubsub/{topic} publishes the body
// (raw bytes); GET /v1/pubsub/{topic} is a Server-Sent Events stream of the topic's
// messages for as long as the client stays (joining the topic meanwhile); GET
// /v1/pubsub lists topics with their peers and mesh. A topic may hold slashes
// ("/v1/pubsub/bzzz/coordination/v1"). Depends on services/http and p2p/pubsub.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "p2p/pubsub/router.h"
#include "services/http/router.h"

namespace bzzz::api {

class PubsubApi {
 public:
  explicit PubsubApi(std::shared_ptr<p2p::pubsub::Router> router) : router_(std::move(router)) {}
  void add_routes(http::Router& router);

 private:
  std::shared_ptr<p2p::pubsub::Router> router_;
};

// One message as the event stream and `bzzz sub --json` show it: id (hex), from, topic,
// seqno, local, and the payload as "data" (UTF-8 text) or "data_hex".
nlohmann::json message_json(const p2p::pubsub::Message& msg);

}  // namespace bzzz::api
