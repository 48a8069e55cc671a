// services/api: the REST face of the Kademlia DHT.
//
//   GET /v1/dht/peers               the routing table (id, addresses, bucket, last seen,
//                                   failures), mode, protocol, record and provider
//                                   counts, and the last lookup's latency and hops
//   GET /v1/dht/value/{key...}      the best valid value of a key, from this node and the
//                                   network: /bzzz/<peer id>/<name> records show their
//                                   value, seq and publisher; pk/<peer id> is the /pk/
//                                   record of that peer (its public key). ?raw=1 answers
//                                   the value's bytes alone (application/octet-stream).
//   PUT /v1/dht/value/{key...}      the body (up to 32 KiB) as the value of
//                                   /bzzz/<this node's id>/<name>, signed with the node's
//                                   key, with a seq above any earlier one (microseconds
//                                   of the wall clock, or the last seq + 1); answers how
//                                   many peers accepted it. Only this node's own /bzzz/
//                                   keys can be written: another publisher's cannot be
//                                   signed, and /pk/ records are published by identify.
//   GET /v1/dht/providers/{hash}    the providers of a blob (64 hex digits or its CID),
//                                   looked up under the blob's multihash; ?limit=N
//                                   (default 20, 0 = every one found)
//   POST /v1/dht/providers/{hash}   announces this node as a provider of the blob
//
// Keys in the path leave out their first slash ("/v1/dht/value/bzzz/12D3.../notes").
// When the DHT is off (dht.enabled = false) every route answers 503 naming the setting.
// Depends on services/http and p2p/dht.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include <nlohmann/json.hpp>

#include "p2p/dht/dht.h"
#include "p2p/host/host.h"
#include "services/http/router.h"

namespace bzzz::api {

class DhtApi {
 public:
  static constexpr size_t kMaxValueBytes = 32 * 1024;

  // `dht` may be null (the DHT is off).
  DhtApi(std::shared_ptr<p2p::Host> host, std::shared_ptr<p2p::dht::Dht> dht)
      : host_(std::move(host)), dht_(std::move(dht)) {}
  void add_routes(http::Router& router);

 private:
  uint64_t next_seq();

  std::shared_ptr<p2p::Host> host_;
  std::shared_ptr<p2p::dht::Dht> dht_;
  std::atomic<uint64_t> last_seq_{0};
};

// What GET /v1/dht/peers answers (also what the `dht` health check summarises).
nlohmann::json dht_peers_json(const p2p::dht::Dht& dht);

}  // namespace bzzz::api
