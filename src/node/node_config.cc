#include "node/node_config.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

namespace bzzz::node {

using config::Kind;
using config::Option;

const config::Schema& node_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    s.add({.key = "data", .default_value = "./bzzz-data", .help = "data directory (blobs, index)"});
    // api
    s.add({.key = "api.listen", .kind = Kind::kHostPort, .default_value = "127.0.0.1:8080",
           .help = "node API: REST, health and metrics"});
    s.add({.key = "api.url", .default_value = "",
           .help = "where commands reach the node (default: http:// + api.listen)"});
    s.add({.key = "api.token", .default_value = "", .help = "bearer token the API requires (empty: none)",
           .secret = true});
    s.add({.key = "api.max_connections", .kind = Kind::kInt, .default_value = "1024",
           .help = "open client connections at most; more are answered 503", .min = 1, .max = 1e6});
    s.add({.key = "api.max_body", .kind = Kind::kBytes, .default_value = "64GiB",
           .help = "largest request body (upload) accepted; larger gets 413", .min = 1});
    s.add({.key = "api.max_header", .kind = Kind::kBytes, .default_value = "16KiB",
           .help = "largest request header accepted; larger gets 431", .min = 1024, .max = 1 << 20});
    s.add({.key = "api.header_timeout", .kind = Kind::kDuration, .default_value = "10s",
           .help = "time a client has to send a whole request header", .min = 0.001});
    s.add({.key = "api.idle_timeout", .kind = Kind::kDuration, .default_value = "60s",
           .help = "keep-alive connections idle longer are closed", .min = 0.001});
    s.add({.key = "api.io_timeout", .kind = Kind::kDuration, .default_value = "30s",
           .help = "a body read or write making no progress this long fails", .min = 0.001});
    // p2p
    s.add({.key = "p2p.listen", .kind = Kind::kList, .default_value = "/ip4/0.0.0.0/tcp/9000",
           .help = "libp2p listen multiaddrs (comma-separated in the environment)"});
    s.add({.key = "p2p.announce", .kind = Kind::kList, .default_value = "",
           .help = "addresses identify announces instead of the listen ones (e.g. behind NAT)"});
    s.add({.key = "p2p.bootstrap", .kind = Kind::kList, .default_value = "",
           .help = "peers kept connected, as /ip4/.../tcp/N/p2p/ID multiaddrs"});
    s.add({.key = "p2p.max_connections", .kind = Kind::kInt, .default_value = "50",
           .help = "libp2p connections at most (inbound beyond are refused)", .min = 1, .max = 1e6});
    s.add({.key = "p2p.max_connections_per_ip", .kind = Kind::kInt, .default_value = "3",
           .help = "connections from one remote IP at most (loopback exempt; 0: no limit)", .min = 0,
           .max = 1e6});
    s.add({.key = "p2p.dial_timeout", .kind = Kind::kDuration, .default_value = "10s",
           .help = "a TCP connect taking longer fails", .min = 0.001});
    s.add({.key = "p2p.handshake_timeout", .kind = Kind::kDuration, .default_value = "10s",
           .help = "multistream + Noise + yamux must be done within this", .min = 0.001});
    s.add({.key = "p2p.keepalive", .kind = Kind::kDuration, .default_value = "30s",
           .help = "yamux ping interval on idle connections (0: none); no pong in 2/3 of it closes",
           .min = 0});
    s.add({.key = "p2p.stream_window", .kind = Kind::kBytes, .default_value = "1MiB",
           .help = "yamux receive window granted to each stream (memory per busy stream)",
           .min = 256 * 1024, .max = 64 << 20});
    s.add({.key = "p2p.diagnostics", .kind = Kind::kBool, .default_value = "false",
           .help = "serve /bzzz/echo/1.0.0 and /bzzz/sink/1.0.0 (interop tests, benchmarks)"});
    s.add({.key = "p2p.backoff_max", .kind = Kind::kDuration, .default_value = "60s",
           .help = "longest wait between redials of a bootstrap peer", .min = 0.01});
    // mdns
    s.add({.key = "mdns.enabled", .kind = Kind::kBool, .default_value = "true",
           .help = "find peers on the local network by multicast DNS (224.0.0.251:5353) and connect to them"});
    s.add({.key = "mdns.interval", .kind = Kind::kDuration, .default_value = "10s",
           .help = "how often the mDNS query for peers is sent", .min = 0.1, .max = 3600});
    // dht
    s.add({.key = "dht.enabled", .kind = Kind::kBool, .default_value = "true",
           .help = "run the Kademlia DHT (records, providers, peer routing)"});
    s.add({.key = "dht.mode", .kind = Kind::kEnum, .default_value = "server",
           .help = "server: answer others' DHT requests and enter their routing tables; client: only ask",
           .choices = {"server", "client"}});
    s.add({.key = "dht.protocol", .kind = Kind::kString, .default_value = "/bzzz/kad/1.0.0",
           .help = "the DHT's protocol id (/ipfs/kad/1.0.0 joins the public IPFS network's DHT)"});
    s.add({.key = "dht.request_timeout", .kind = Kind::kDuration, .default_value = "10s",
           .help = "one DHT request to one peer failing after this", .min = 0.01, .max = 600});
    s.add({.key = "dht.refresh_interval", .kind = Kind::kDuration, .default_value = "10m",
           .help = "how often the routing table is refreshed by lookups", .min = 1, .max = 86400});
    // replication
    s.add({.key = "replication.enabled", .kind = Kind::kBool, .default_value = "true",
           .help = "keep every pinned blob on replication.factor live nodes, repairing as nodes come and go"});
    s.add({.key = "replication.factor", .kind = Kind::kInt, .default_value = "3",
           .help = "copies of each pinned blob, on the live nodes closest to its hash (this one included)",
           .min = 1, .max = 16});
    s.add({.key = "replication.repair_interval", .kind = Kind::kDuration, .default_value = "1m",
           .help = "how often every pinned blob's replicas are checked and repaired", .min = 0.1, .max = 86400});
    s.add({.key = "replication.settle_delay", .kind = Kind::kDuration, .default_value = "2s",
           .help = "a repair round this soon after a peer joins or leaves", .min = 0.01, .max = 3600});
    s.add({.key = "replication.grace", .kind = Kind::kDuration, .default_value = "10m",
           .help = "blobs under-replicated longer than this turn the replication health check to warn",
           .min = 0, .max = 86400 * 30});
    s.add({.key = "replication.capacity", .kind = Kind::kBytes, .default_value = "0",
           .help = "bytes of blobs this node holds at most before it takes no more replicas (0: no limit)"});
    s.add({.key = "replication.scrub_interval", .kind = Kind::kDuration, .default_value = "0s",
           .help = "how often the store is verified and damaged replicas fetched again from peers (0: only "
                   "when asked: POST /v1/replication/scrub)", .min = 0, .max = 86400 * 365});
    // exchange (blobs between peers) and routing (providers in the DHT)
    s.add({.key = "exchange.request_timeout", .kind = Kind::kDuration, .default_value = "10s",
           .help = "a blob request to a peer must be answered (its header) within this", .min = 0.01, .max = 600});
    s.add({.key = "exchange.stall_timeout", .kind = Kind::kDuration, .default_value = "10s",
           .help = "a provider sending nothing of a range this long is dropped from the fetch", .min = 0.01,
           .max = 600});
    s.add({.key = "exchange.max_transfers", .kind = Kind::kInt, .default_value = "32",
           .help = "blob downloads served to peers at once; more are answered busy", .min = 1, .max = 10000});
    s.add({.key = "exchange.providers_per_fetch", .kind = Kind::kInt, .default_value = "4",
           .help = "providers one fetch downloads from at once", .min = 1, .max = 64});
    s.add({.key = "routing.reprovide_interval", .kind = Kind::kDuration, .default_value = "12h",
           .help = "every blob held is announced in the DHT again this often (peers keep a record 48 h)",
           .min = 1, .max = 86400});
    // pubsub
    s.add({.key = "pubsub.max_message_size", .kind = Kind::kBytes, .default_value = "1MiB",
           .help = "largest gossipsub message published or accepted (data bytes)", .min = 1, .max = 4 << 20});
    s.add({.key = "pubsub.heartbeat", .kind = Kind::kDuration, .default_value = "1s",
           .help = "gossipsub heartbeat: mesh upkeep and IHAVE gossip", .min = 0.01, .max = 60});
    s.add({.key = "pubsub.flood_publish", .kind = Kind::kBool, .default_value = "true",
           .help = "send our own messages to every peer of the topic, not only the mesh"});
    // agent (the original BZZZ's agent config, for bzzz/coordination/v1)
    s.add({.key = "agent.enabled", .kind = Kind::kBool, .default_value = "true",
           .help = "join bzzz/coordination/v1: broadcast this node's agent, keep a registry of others"});
    s.add({.key = "agent.id", .kind = Kind::kString, .default_value = "",
           .help = "the agent's name (empty: the node's peer id)"});
    s.add({.key = "agent.role", .kind = Kind::kString, .default_value = "",
           .help = "the agent's role, e.g. backend_developer"});
    s.add({.key = "agent.capabilities", .kind = Kind::kList, .default_value = "",
           .help = "what the agent can do (comma-separated in the environment)"});
    s.add({.key = "agent.specialization", .kind = Kind::kString, .default_value = "",
           .help = "the agent's specialization"});
    s.add({.key = "agent.models", .kind = Kind::kList, .default_value = "",
           .help = "LLM models the agent uses"});
    s.add({.key = "agent.max_tasks", .kind = Kind::kInt, .default_value = "3",
           .help = "tasks the agent takes at once", .min = 1, .max = 1000});
    s.add({.key = "agent.availability_interval", .kind = Kind::kDuration, .default_value = "30s",
           .help = "how often availability_broadcast goes out", .min = 0.1, .max = 86400});
    // store
    s.add({.key = "store.compression", .kind = Kind::kEnum, .default_value = "zstd",
           .help = "codec tried for new blobs (none = raw)", .choices = {"zstd", "gzip", "none", "raw"}});
    s.add({.key = "store.level", .kind = Kind::kInt, .default_value = "3",
           .help = "compression level", .min = 1, .max = 22});
    s.add({.key = "store.min_savings", .kind = Kind::kDouble, .default_value = "0.1",
           .help = "keep compressed only when it saves this fraction", .min = 0, .max = 0.99});
    s.add({.key = "store.small_threshold", .kind = Kind::kBytes, .default_value = "16KiB",
           .help = "blobs up to this size go into packs", .min = 0, .max = 16 << 20});
    s.add({.key = "store.read_cache", .kind = Kind::kBytes, .default_value = "64MiB",
           .help = "memory for verified small blobs recently read (0: no cache)"});
    s.add({.key = "store.threads", .kind = Kind::kInt, .default_value = "0",
           .help = "hashing/compression threads (0: all cores)", .min = 0, .max = 1024});
    // node
    s.add({.key = "node.io_threads", .kind = Kind::kInt, .default_value = "0",
           .help = "event-loop threads (0: cores, at most 4)", .min = 0, .max = 256});
    s.add({.key = "node.workers", .kind = Kind::kInt, .default_value = "0",
           .help = "threads for disk work (0: 4 x cores, at least 16)", .min = 0, .max = 1024});
    s.add({.key = "node.drain_delay", .kind = Kind::kDuration, .default_value = "0s",
           .help = "after SIGTERM, keep serving this long while /health/ready fails"});
    s.add({.key = "node.shutdown_timeout", .kind = Kind::kDuration, .default_value = "25s",
           .help = "the whole graceful shutdown's deadline", .min = 0.1});
    // logging
    s.add({.key = "log.level", .kind = Kind::kEnum, .default_value = "info", .help = "log level",
           .choices = {"trace", "debug", "info", "warn", "error", "off"}});
    s.add({.key = "log.format", .kind = Kind::kEnum, .default_value = "text",
           .help = "log lines as text or JSON", .choices = {"text", "json"}});
    s.add({.key = "log.file", .default_value = "", .help = "log to this file (empty: stderr)"});
    // health
    s.add({.key = "health.interval", .kind = Kind::kDuration, .default_value = "5s",
           .help = "how often each health check runs", .min = 0.01});
    s.add({.key = "health.timeout", .kind = Kind::kDuration, .default_value = "2s",
           .help = "a check running longer fails", .min = 0.01});
    s.add({.key = "health.critical_grace", .kind = Kind::kDuration, .default_value = "60s",
           .help = "a critical check failing this long shuts the node down (see next)"});
    s.add({.key = "health.shutdown_on_critical", .kind = Kind::kBool, .default_value = "true",
           .help = "start a graceful shutdown when a critical check fails past its grace"});
    s.add({.key = "health.disk_warn_free", .kind = Kind::kDouble, .default_value = "0.10",
           .help = "warn when the data dir's disk has less than this fraction free", .min = 0, .max = 1});
    s.add({.key = "health.disk_fail_free", .kind = Kind::kDouble, .default_value = "0.02",
           .help = "fail (not ready) below this fraction free", .min = 0, .max = 1});
    s.add({.key = "health.disk_fail_free_bytes", .kind = Kind::kBytes, .default_value = "64MiB",
           .help = "fail (not ready) below this many free bytes"});
    s.add({.key = "health.memory_limit", .kind = Kind::kBytes, .default_value = "0",
           .help = "resident memory that fails the memory check (0: report only)"});
    s.add({.key = "health.memory_warn", .kind = Kind::kDouble, .default_value = "0.9",
           .help = "warn above this fraction of the memory limit", .min = 0, .max = 1});
    s.add({.key = "health.loop_lag_warn", .kind = Kind::kDuration, .default_value = "250ms",
           .help = "event-loop lag that warns"});
    s.add({.key = "health.loop_lag_fail", .kind = Kind::kDuration, .default_value = "5s",
           .help = "event-loop lag that fails liveness"});
    return s;
  }();
  return schema;
}

namespace {
std::chrono::milliseconds ms(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}
unsigned cores() { return std::max(1u, std::thread::hardware_concurrency()); }
}  // namespace

Result<NodeSettings> settings_from(const config::Config& c) {
  NodeSettings s;
  s.data_dir = c.string("data");
  if (s.data_dir.empty()) return make_error(ErrorCode::kInvalidArgument, "config: data must not be empty");

  const std::string& codec = c.string("store.compression");
  BZZZ_ASSIGN_OR_RETURN(s.store.codec, store::parse_codec(codec == "none" ? "raw" : codec));
  s.store.level = static_cast<int>(c.integer("store.level"));
  if (auto level = store::check_level(s.store.codec, s.store.level); !level) {
    return fail(level.error().wrap(fmt::format("config: store.level from {}", c.setting("store.level").origin)));
  }
  s.store.min_savings = c.number("store.min_savings");
  s.store.small_blob_threshold = c.bytes("store.small_threshold");
  s.store.threads = static_cast<unsigned>(c.integer("store.threads"));
  s.store.read_cache_bytes = c.bytes("store.read_cache");

  for (const auto& text : c.list("p2p.listen")) {
    auto addr = p2p::Multiaddr::parse(text);
    if (!addr) {
      return fail(addr.error().wrap(fmt::format("config: p2p.listen from {}", c.setting("p2p.listen").origin)));
    }
    s.p2p_listen.push_back(*addr);
  }
  auto addrs = [&](const char* key, std::vector<p2p::Multiaddr>& out) -> Status {
    for (const auto& text : c.list(key)) {
      auto addr = p2p::Multiaddr::parse(text);
      if (!addr) return fail(addr.error().wrap(fmt::format("config: {} from {}", key, c.setting(key).origin)));
      if (!addr->tcp_endpoint()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("config: {} from {}: {} is not a TCP address", key, c.setting(key).origin,
                                      bzzz::quoted(text)));
      }
      out.push_back(*addr);
    }
    return ok();
  };
  BZZZ_TRY(addrs("p2p.announce", s.p2p.announce));
  BZZZ_TRY(addrs("p2p.bootstrap", s.p2p.bootstrap));
  s.p2p.listen = s.p2p_listen;
  s.p2p.max_connections = static_cast<size_t>(c.integer("p2p.max_connections"));
  s.p2p.max_connections_per_ip = static_cast<size_t>(c.integer("p2p.max_connections_per_ip"));
  s.p2p.dial_timeout = ms(c.duration("p2p.dial_timeout"));
  s.p2p.handshake_timeout = ms(c.duration("p2p.handshake_timeout"));
  s.p2p.connection.keepalive_interval = ms(c.duration("p2p.keepalive"));
  s.p2p.connection.keepalive_timeout = s.p2p.connection.keepalive_interval * 2 / 3;
  s.p2p.backoff_max = ms(c.duration("p2p.backoff_max"));
  s.p2p_diagnostics = c.boolean("p2p.diagnostics");
  s.p2p.connection.yamux.receive_window = static_cast<uint32_t>(c.bytes("p2p.stream_window"));
  s.mdns_enabled = c.boolean("mdns.enabled");
  s.mdns.interval = ms(c.duration("mdns.interval"));
  s.dht_enabled = c.boolean("dht.enabled");
  s.dht.server_mode = c.string("dht.mode") == "server";
  s.dht.protocol = c.string("dht.protocol");
  if (s.dht.protocol.empty() || s.dht.protocol[0] != '/' ||
      std::any_of(s.dht.protocol.begin(), s.dht.protocol.end(),
                  [](char ch) { return static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f; })) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("config: dht.protocol from {}: {} is not a protocol id (it starts with /, "
                                  "no spaces or control characters)",
                                  c.setting("dht.protocol").origin, bzzz::quoted(s.dht.protocol)));
  }
  s.dht.data_dir = s.data_dir + "/dht";
  s.dht.request_timeout = ms(c.duration("dht.request_timeout"));
  s.dht.refresh_interval = ms(c.duration("dht.refresh_interval"));
  s.replication_enabled = c.boolean("replication.enabled");
  s.replication.factor = static_cast<size_t>(c.integer("replication.factor"));
  s.replication.repair_interval = ms(c.duration("replication.repair_interval"));
  s.replication.settle_delay = ms(c.duration("replication.settle_delay"));
  s.replication.grace = ms(c.duration("replication.grace"));
  s.replication.capacity = c.bytes("replication.capacity");
  s.replication.scrub_interval = ms(c.duration("replication.scrub_interval"));
  s.exchange.request_timeout = ms(c.duration("exchange.request_timeout"));
  s.exchange.stall_timeout = ms(c.duration("exchange.stall_timeout"));
  s.exchange.max_inbound_transfers = static_cast<size_t>(c.integer("exchange.max_transfers"));
  s.exchange.max_parallel_providers = static_cast<size_t>(c.integer("exchange.providers_per_fetch"));
  s.routing.reprovide_interval = ms(c.duration("routing.reprovide_interval"));
  // Looked up: twice those used at once, so drop-outs have spares.
  s.routing.providers_per_fetch = 2 * s.exchange.max_parallel_providers;
  s.pubsub.max_message_size = static_cast<size_t>(c.bytes("pubsub.max_message_size"));
  s.pubsub.heartbeat_interval = ms(c.duration("pubsub.heartbeat"));
  s.pubsub.flood_publish = c.boolean("pubsub.flood_publish");
  s.agent_enabled = c.boolean("agent.enabled");
  s.agent.id = c.string("agent.id");
  s.agent.role = c.string("agent.role");
  s.agent.capabilities = c.list("agent.capabilities");
  s.agent.specialization = c.string("agent.specialization");
  s.agent.models = c.list("agent.models");
  s.agent.max_tasks = static_cast<int>(c.integer("agent.max_tasks"));
  s.agent_options.availability_interval = ms(c.duration("agent.availability_interval"));

  auto listen = c.host_port("api.listen");
  s.api.name = "api";
  s.api.host = listen.host;
  s.api.port = listen.port;
  s.api.max_connections = static_cast<size_t>(c.integer("api.max_connections"));
  s.api.limits.max_body_bytes = c.bytes("api.max_body");
  s.api.limits.max_header_bytes = static_cast<size_t>(c.bytes("api.max_header"));
  s.api.limits.header_timeout = ms(c.duration("api.header_timeout"));
  s.api.limits.idle_timeout = ms(c.duration("api.idle_timeout"));
  s.api.limits.io_timeout = ms(c.duration("api.io_timeout"));
  s.api_token = c.string("api.token");

  auto io = static_cast<unsigned>(c.integer("node.io_threads"));
  s.io_threads = io != 0 ? io : std::min(cores(), 4u);
  auto workers = static_cast<unsigned>(c.integer("node.workers"));
  // Blocking store calls wait out group fsyncs on these threads, so concurrent puts can
  // only share an fsync if there are threads enough for them to wait together.
  s.workers = workers != 0 ? workers : std::max(16u, 4 * cores());
  s.drain_delay = ms(c.duration("node.drain_delay"));
  s.shutdown_timeout = ms(c.duration("node.shutdown_timeout"));

  s.log.level = c.string("log.level");
  s.log.format = c.string("log.format");
  s.log.file = c.string("log.file");

  auto& h = s.health;
  h.interval = ms(c.duration("health.interval"));
  h.timeout = ms(c.duration("health.timeout"));
  h.critical_grace = ms(c.duration("health.critical_grace"));
  h.shutdown_on_critical = c.boolean("health.shutdown_on_critical");
  h.disk_warn_free = c.number("health.disk_warn_free");
  h.disk_fail_free = c.number("health.disk_fail_free");
  h.disk_fail_free_bytes = c.bytes("health.disk_fail_free_bytes");
  h.memory_limit = c.bytes("health.memory_limit");
  h.memory_warn = c.number("health.memory_warn");
  h.loop_lag_warn = ms(c.duration("health.loop_lag_warn"));
  h.loop_lag_fail = ms(c.duration("health.loop_lag_fail"));
  if (h.disk_fail_free > h.disk_warn_free) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("config: health.disk_fail_free ({}) is above health.disk_warn_free ({})",
                                  h.disk_fail_free, h.disk_warn_free));
  }
  return s;
}

std::string api_url(const config::Config& c) {
  if (!c.string("api.url").empty()) return c.string("api.url");
  auto listen = c.host_port("api.listen");
  std::string host = listen.host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::" || host == "[::]") host = "[::1]";
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  return fmt::format("http://{}:{}", host, listen.port);
}

}  // namespace bzzz::node
