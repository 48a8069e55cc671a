// services/api: the node's REST face of the libp2p host: GET /v1/peers (this node's
// id and addresses, every known peer with its connections), POST /v1/peers/connect
// {"addr"}, DELETE /v1/peers/{id}, POST /v1/peers/ping {"peer": id or multiaddr,
// "count"}. Depends on services/http and p2p/host.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "p2p/host/host.h"
#include "services/http/router.h"

namespace bzzz::api {

class PeersApi {
 public:
  explicit PeersApi(std::shared_ptr<p2p::Host> host) : host_(std::move(host)) {}
  void add_routes(http::Router& router);

 private:
  std::shared_ptr<p2p::Host> host_;
};

// The /v1/peers document (also what `bzzz peers --json` prints).
nlohmann::json peers_json(const p2p::Host& host);

}  // namespace bzzz::api
