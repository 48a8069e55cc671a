// node: every option a node reads, in one schema (what `bzzz config show` lists and
// etc/bzzz.example.yaml documents), and the typed settings the node is built from.
// The listen keys are those of DESIGN.md's interfaces (api.listen / BZZZ_API_LISTEN).
#pragma once

#include <chrono>
#include <string>

#include "base/config/config.h"
#include "content/exchange/exchange.h"
#include "content/routing/router.h"
#include "content/replication/replicator.h"
#include "content/store/store.h"
#include "infra/logging/logging.h"
#include "p2p/host/host.h"
#include "p2p/dht/dht.h"
#include "p2p/mdns/mdns.h"
#include "p2p/pubsub/router.h"
#include "coord/agents/coordination_agent.h"
#include "p2p/multiaddr/multiaddr.h"
#include "services/http/server.h"

namespace bzzz::node {

const config::Schema& node_schema();

struct HealthSettings {
  std::chrono::milliseconds interval{5000};
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds critical_grace{60000};
  bool shutdown_on_critical = true;
  double disk_warn_free = 0.10;
  double disk_fail_free = 0.02;
  uint64_t disk_fail_free_bytes = 64ull << 20;
  uint64_t memory_limit = 0;
  double memory_warn = 0.9;
  std::chrono::milliseconds loop_lag_warn{250};
  std::chrono::milliseconds loop_lag_fail{5000};
};

struct NodeSettings {
  std::string data_dir = "./bzzz-data";
  store::StoreOptions store;
  http::ServerOptions api;
  std::string api_token;  // empty: the API is open (it listens on loopback by default)
  std::vector<p2p::Multiaddr> p2p_listen;
  p2p::HostOptions p2p;
  bool p2p_diagnostics = false;  // serve the echo and sink protocols  // listen is p2p_listen; agent_version is set by the node
  bool dht_enabled = true;  // dht.*
  p2p::dht::DhtOptions dht;
  exchange::ExchangeOptions exchange;  // exchange.*
  routing::RouterOptions routing;      // routing.*
  bool replication_enabled = true;  // replication.*
  replication::ReplicationOptions replication;
  bool mdns_enabled = true;  // local peer discovery (mdns.*)
  p2p::mdns::Options mdns;
  p2p::pubsub::Options pubsub;
  bool agent_enabled = true;  // agent.*: the node's agent on bzzz/coordination/v1
  coord::AgentProfile agent;
  coord::AgentOptions agent_options;
  unsigned io_threads = 2;
  unsigned workers = 4;
  std::chrono::milliseconds drain_delay{0};
  std::chrono::milliseconds shutdown_timeout{25000};
  logging::LogOptions log;
  HealthSettings health;
};

Result<NodeSettings> settings_from(const config::Config& config);

// The URL a client uses to reach the node: api.url, else http:// + api.listen (a
// wildcard listen address is reached on loopback).
std::string api_url(const config::Config& config);

}  // namespace bzzz::node
