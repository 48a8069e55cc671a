#include "node/node.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>
#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <spdlog/spdlog.h>

#include "base/fs/file.h"
#include "infra/health/checks.h"
#include "infra/health/health.h"
#include "infra/logging/logging.h"
#include "infra/metrics/metrics.h"
#include "node/lifecycle.h"
#include "content/exchange/exchange.h"
#include "content/routing/router.h"
#include "content/replication/replicator.h"
#include "p2p/dht/dht.h"
#include "p2p/host/diagnostics.h"
#include "p2p/host/host.h"
#include "p2p/identity/identity.h"
#include "p2p/mdns/mdns.h"
#include "p2p/pubsub/router.h"
#include "services/api/peers_api.h"
#include "services/api/pubsub_api.h"
#include "services/api/agents_api.h"
#include "services/api/dht_api.h"
#include "services/api/replication_api.h"
#include "services/api/store_api.h"
#include "base/async/blocking.h"
#include "services/http/exchange.h"
#include "services/http/server.h"

namespace bzzz::node {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Everything the components share; outlives them all.
struct Shared {
  const NodeSettings& settings;
  BuildInfo build;
  asio::io_context io;
  std::unique_ptr<asio::thread_pool> workers;
  metrics::Metrics metrics;
  health::Registry health;
  std::unique_ptr<store::Store> store;
  std::shared_ptr<p2p::Host> host;
  std::shared_ptr<p2p::dht::Dht> dht;  // null when dht.enabled is false
  std::shared_ptr<p2p::pubsub::Router> pubsub;
  std::shared_ptr<coord::CoordinationAgent> agent;  // null when agent.enabled is false
  std::shared_ptr<exchange::Exchange> exchange;       // blobs between peers
  std::shared_ptr<routing::ContentRouter> routing;    // providers: announced, found, fetched from
  std::shared_ptr<replication::Replicator> replicator;  // null when replication.enabled is false
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  Lifecycle* lifecycle = nullptr;

  // Asked to stop: by a signal or by a failing critical check.
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop_requested = false;
  std::string stop_reason;
  std::atomic<bool> force{false};

  Shared(const NodeSettings& s, BuildInfo b)
      : settings(s), build(std::move(b)), health(health::Registry::Options{
                                              .version = "1",
                                              .release_id = build.version,
                                              .service_id = "",
                                              .description = "bzzz node",
                                          }) {}

  void request_stop(std::string reason) {
    std::lock_guard lock(stop_mu);
    if (stop_requested) return;
    stop_requested = true;
    stop_reason = std::move(reason);
    stop_cv.notify_all();
  }
};

class StoreComponent final : public Component {
 public:
  explicit StoreComponent(Shared& s) : s_(s) {}
  std::string name() const override { return "store"; }
  Status start() override {
    BZZZ_ASSIGN_OR_RETURN(s_.store, store::Store::open(s_.settings.data_dir, s_.settings.store));
    if (auto stats = s_.store->stats()) {
      spdlog::info("store open at {}: {} blobs, {} bytes", s_.settings.data_dir, stats->counters.blobs,
                   stats->counters.logical_bytes);
    }
    return ok();
  }
  Status persist() override {
    s_.store.reset();  // flushes access times, syncs the index, releases the lock
    return ok();
  }
  std::string describe() const override { return s_.settings.data_dir; }

 private:
  Shared& s_;
};

// The pool that runs blocking work (store calls) for the I/O threads.
class WorkersComponent final : public Component {
 public:
  explicit WorkersComponent(Shared& s) : s_(s) {}
  std::string name() const override { return "workers"; }
  Status start() override {
    s_.workers = std::make_unique<asio::thread_pool>(s_.settings.workers);
    return ok();
  }
  Status persist() override {
    s_.workers->join();  // work queued by requests that finished or were cut off
    return ok();
  }
  std::string describe() const override { return fmt::format("{} threads", s_.settings.workers); }

 private:
  Shared& s_;
};

health::Observation probe_store(const std::string& data_dir) {
  // A real write, sync, read and remove next to the blobs: proves the disk takes writes,
  // not just that a file descriptor is open.
  std::string path = fs::join(data_dir, fmt::format("blobs/temp/health-probe-{}", ::getpid()));
  std::string payload = fmt::format("bzzz health probe {}", std::chrono::system_clock::now().time_since_epoch().count());
  auto failed = [&](const Error& e) {
    (void)fs::remove_file(path);
    return health::Observation{health::Status::kFail, nullptr, "", e.message()};
  };
  auto started = std::chrono::steady_clock::now();
  auto file = fs::File::open(path, O_RDWR | O_CREAT | O_TRUNC);
  if (!file) return failed(file.error());
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  if (auto w = file->write_all(bytes); !w) return failed(w.error());
  if (auto d = file->datasync(); !d) return failed(d.error());
  std::vector<uint8_t> back(payload.size());
  if (auto r = file->pread_exact(back, 0); !r) return failed(r.error());
  if (!std::equal(back.begin(), back.end(), bytes.begin())) {
    return failed(Error(ErrorCode::kIo, fmt::format("{} read back different bytes", path)));
  }
  (void)file->close();
  if (auto rm = fs::remove_file(path); !rm) return failed(rm.error());
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return {health::Status::kPass, ms, "ms", ""};
}

health::Observation probe_pubsub(p2p::pubsub::Router& router, p2p::pubsub::Subscription& sub,
                                 std::chrono::milliseconds timeout) {
  auto started = std::chrono::steady_clock::now();
  while (sub.try_next()) {
  }
  std::string nonce = fmt::format("probe {}", started.time_since_epoch().count());
  auto published = router.publish(sub.topic(), std::vector<uint8_t>(nonce.begin(), nonce.end()));
  if (!published) return {health::Status::kFail, nullptr, "", published.error().message()};
  auto deadline = started + timeout - std::chrono::milliseconds(50);
  while (std::chrono::steady_clock::now() < deadline) {
    while (auto m = sub.try_next()) {
      if (m->id == published->id) {
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        return {health::Status::kPass, ms, "ms", ""};
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return {health::Status::kFail, nullptr, "", "a message published on the node's probe topic was not delivered"};
}

// The DHT: its routing table (no server peer known is a warning: nothing can be looked
// up, yet the node serves its own records) and its last lookup (one in which every
// request failed is a warning). Both change as the mesh does.
health::Observation probe_dht(const p2p::dht::Dht& dht) {
  if (!dht.running()) return {health::Status::kFail, nullptr, "", "the DHT is not running"};
  size_t size = dht.routing_table_size();
  nlohmann::json observed = {{"routing_table", size}, {"records", dht.record_count()},
                             {"providers", dht.provider_count()}};
  auto last = dht.last_lookup();
  if (last) {
    observed["last_lookup_ms"] = static_cast<double>(last->latency.count()) / 1000.0;
    observed["last_lookup_hops"] = last->hops;
  }
  if (size == 0) {
    return {health::Status::kWarn, observed, "", "no DHT server peer in the routing table: lookups cannot run"};
  }
  if (last && last->queried > 0 && last->failed == last->queried) {
    return {health::Status::kWarn, observed, "",
            fmt::format("every one of the last lookup's {} requests failed", last->queried)};
  }
  return {health::Status::kPass, observed, "", ""};
}

// Replication: blobs under-replicated for longer than the grace period are a warning
// (a lone node, or too few live nodes for the factor, shows up here); the observed value
// carries the counts of the last repair round.
health::Observation probe_replication(const replication::Replicator& r) {
  auto st = r.status();
  nlohmann::json observed = {{"pinned", st.pinned},     {"under_replicated", st.under_replicated},
                             {"queue", st.queue},       {"live_nodes", st.live_nodes},
                             {"factor", st.factor},     {"full", st.full}};
  const double grace = std::chrono::duration<double>(r.options().grace).count();
  if (st.under_replicated_for && *st.under_replicated_for > grace) {
    return {health::Status::kWarn, observed, "",
            fmt::format("{} pinned blobs have had fewer than {} replicas for {:.0f} s ({} live nodes)",
                        st.under_replicated, st.factor, *st.under_replicated_for, st.live_nodes)};
  }
  if (st.full) {
    return {health::Status::kWarn, observed, "",
            fmt::format("this node is full ({} of {} bytes): it takes no more replicas", st.used, st.capacity)};
  }
  return {health::Status::kPass, observed, "", ""};
}

// Health metrics, read from the registry's cache at scrape time.
class HealthCollector final : public prometheus::Collectable {
 public:
  explicit HealthCollector(const health::Registry& h) : h_(h) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily status{"bzzz_health_check_status",
                                    "Health check result: 0 pass, 1 warn, 2 fail",
                                    prometheus::MetricType::Gauge, {}};
    prometheus::MetricFamily latency{"bzzz_health_check_duration_seconds",
                                     "How long the last run of each health check took",
                                     prometheus::MetricType::Gauge, {}};
    h_.visit([&](const health::CheckSpec& spec, health::Status st, std::chrono::nanoseconds took) {
      prometheus::ClientMetric m;
      m.label = {{"check", spec.name}};
      m.gauge.value = static_cast<double>(st);
      status.metric.push_back(m);
      m.gauge.value = std::chrono::duration<double>(took).count();
      latency.metric.push_back(m);
    });
    return {status, latency};
  }

 private:
  const health::Registry& h_;
};

// The libp2p host: listening, bootstrap dialing, identify and ping. Shutdown closes
// every connection with a yamux GoAway once the API no longer takes requests.
class P2pComponent final : public Component {
 public:
  explicit P2pComponent(Shared& s) : s_(s) {}
  std::string name() const override { return "p2p"; }
  Status start() override {
    auto started = start_all();
    if (!started) stop_accepting();  // what did start stops again
    return started;
  }
  void stop_accepting() override {
    if (mdns_) mdns_->stop();  // before the host, so it dials no one on the way out
    if (s_.agent) s_.agent->stop();
    if (s_.pubsub) s_.pubsub->stop();  // ends event streams and closes our outbound streams
    if (s_.replicator) s_.replicator->stop();
    if (s_.routing) s_.routing->stop();    // no more announcing
    if (s_.exchange) s_.exchange->stop();  // fetches in flight fail; later requests are refused
    if (s_.dht) s_.dht->stop();        // cancels lookups and its loops; later requests are reset
    if (s_.host) s_.host->stop();
  }
  bool idle() const override { return s_.host->idle(); }
  void force_close() override {
    for (auto& c : s_.host->connections()) c->abort(Error(ErrorCode::kUnavailable, "shutdown deadline"));
  }
  void close() override { force_close(); }
  std::string describe() const override {
    return s_.host ? fmt::format("peer {}, {} connections", s_.host->id().to_string(), s_.host->connection_count())
                   : "not started";
  }

 private:
  Shared& s_;
  std::shared_ptr<p2p::mdns::Service> mdns_;

  Status start_all() {
    auto identity = p2p::load_or_create_identity(s_.settings.data_dir);
    if (!identity) return tl::unexpected(identity.error());
    if (identity->created) spdlog::info("p2p: created a new identity {}", identity->peer_id.to_string());
    p2p::HostOptions options = s_.settings.p2p;
    options.agent_version = fmt::format("bzzz/{}", s_.build.version);
    s_.host = p2p::Host::create(s_.io, std::move(identity->key), std::move(options), &s_.metrics.registry());
    if (s_.settings.p2p_diagnostics) p2p::add_diagnostic_protocols(*s_.host);
    if (s_.settings.dht_enabled) {
      // Before the host starts: the first identify we send (there is no identify push)
      // must already list the DHT protocol, or bootstrap peers never add us.
      s_.dht = p2p::dht::Dht::create(*s_.host, s_.settings.dht, &s_.metrics.registry());
      BZZZ_TRY(s_.dht->start());
    }
    // The blob protocol, before the host starts for the same reason.
    s_.exchange = exchange::Exchange::create(*s_.host, *s_.store, *s_.workers, s_.settings.exchange,
                                             &s_.metrics.registry());
    s_.exchange->start();
    BZZZ_TRY(s_.host->start());
    spdlog::info("p2p: peer id {}", s_.host->id().to_string());
    s_.routing = routing::ContentRouter::create(*s_.host, *s_.store, *s_.workers, s_.exchange, s_.dht,
                                                s_.settings.routing, &s_.metrics.registry());
    s_.routing->start();
    if (s_.settings.replication_enabled) {
      s_.replicator = replication::Replicator::create(*s_.host, *s_.store, *s_.exchange, *s_.workers,
                                                      s_.settings.replication, &s_.metrics.registry());
      s_.replicator->start();
    }
    s_.pubsub = p2p::pubsub::Router::create(*s_.host, s_.settings.pubsub, &s_.metrics.registry());
    s_.pubsub->start();
    if (s_.settings.agent_enabled) {
      auto agent_options = s_.settings.agent_options;
      agent_options.version = s_.build.version;
      s_.agent = coord::CoordinationAgent::create(s_.io, s_.pubsub, s_.host->id(), s_.settings.agent,
                                                  agent_options, &s_.metrics.registry());
      BZZZ_TRY(s_.agent->start());
    }
    if (s_.settings.mdns_enabled) {
      // Local discovery is a convenience: without it the node still works (bootstrap).
      mdns_ = p2p::mdns::Service::create(s_.host, s_.settings.mdns, &s_.metrics.registry());
      if (auto started = mdns_->start(); !started) {
        spdlog::warn("{}; running without local peer discovery", started.error().message());
        mdns_.reset();
      }
    }
    return ok();
  }
};

class HealthComponent final : public Component {
 public:
  explicit HealthComponent(Shared& s) : s_(s) {}
  std::string name() const override { return "health"; }
  Status start() override {
    const auto& hs = s_.settings.health;
    auto spec = [&](std::string check, health::ComponentType type, bool critical,
                    std::function<health::Observation()> run) {
      health::CheckSpec c;
      c.name = std::move(check);
      c.type = type;
      c.critical = critical;
      c.interval = hs.interval;
      c.timeout = hs.timeout;
      c.grace = hs.critical_grace;
      c.run = std::move(run);
      return c;
    };
    std::string data_dir = s_.settings.data_dir;
    auto store_check = spec("store:writable", health::ComponentType::kDatastore, true,
                            [data_dir] { return probe_store(data_dir); });
    store_check.affected_endpoints = {"/v1/blobs"};
    s_.health.add(std::move(store_check));
    s_.health.add(spec("disk:utilization", health::ComponentType::kSystem, true,
                       health::disk_space(data_dir, hs.disk_warn_free, hs.disk_fail_free,
                                          hs.disk_fail_free_bytes)));
    s_.health.add(spec("memory:utilization", health::ComponentType::kSystem, false,
                       health::memory(hs.memory_limit, hs.memory_warn)));
    // Event-loop lag: how long a handler posted now waits before it runs.
    auto lag = spec("eventloop:lag", health::ComponentType::kSystem, false,
                    [&io = s_.io, warn = hs.loop_lag_warn, failing = hs.loop_lag_fail] {
                      auto posted = std::chrono::steady_clock::now();
                      auto ran = std::make_shared<std::promise<std::chrono::steady_clock::time_point>>();
                      auto when = ran->get_future();
                      asio::post(io, [ran] { ran->set_value(std::chrono::steady_clock::now()); });
                      if (when.wait_for(failing) != std::future_status::ready) {
                        return health::Observation{health::Status::kFail, nullptr, "",
                                                   fmt::format("event loop did not run a handler within {} ms",
                                                               failing.count())};
                      }
                      double ms = std::chrono::duration<double, std::milli>(when.get() - posted).count();
                      auto st = ms > static_cast<double>(warn.count()) ? health::Status::kWarn
                                                                       : health::Status::kPass;
                      return health::Observation{st, ms, "ms",
                                                 st == health::Status::kPass ? "" : "event loop is slow"};
                    });
    // p2p: listening is pass; no peer at all is a warning (a lone node still serves).
    s_.health.add(spec("p2p:connections", health::ComponentType::kComponent, false, [host = s_.host] {
      size_t n = host->connection_count();
      if (n == 0) {
        return health::Observation{health::Status::kWarn, 0.0, "",
                                   host->listen_addrs().empty() ? "not listening and no peers" : "no peers connected"};
      }
      return health::Observation{health::Status::kPass, static_cast<double>(n), "", ""};
    }));
    // pubsub: a real message through the router (signed, validated, delivered) on a
    // topic of this node's own, which no one else joins.
    s_.health.add(spec("pubsub:loopback", health::ComponentType::kComponent, false,
                       [router = s_.pubsub, sub = s_.pubsub->subscribe_local("bzzz/health/loopback"),
                        timeout = hs.timeout] { return probe_pubsub(*router, *sub, timeout); }));
    if (s_.replicator) {
      s_.health.add(spec("replication:replicas", health::ComponentType::kComponent, false,
                         [r = s_.replicator] { return probe_replication(*r); }));
    }
    if (s_.dht) {
      s_.health.add(spec("dht:routing", health::ComponentType::kComponent, false,
                         [dht = s_.dht] { return probe_dht(*dht); }));
    }
    lag.liveness = true;
    lag.timeout = hs.loop_lag_fail + 1s;
    s_.health.add(std::move(lag));
    if (hs.shutdown_on_critical) {
      s_.health.on_critical_failure([&s = s_](const std::string& check, const std::string& output) {
        spdlog::error("critical health check {} failing past its grace ({}): shutting down", check, output);
        s.request_stop("critical check " + check + " failing");
      });
    }
    s_.health.start();
    s_.metrics.add_collectable(std::make_shared<HealthCollector>(s_.health));
    return ok();
  }
  void drain() override { s_.health.set_phase("draining", false); }
  void close() override { s_.health.stop(); }

 private:
  Shared& s_;
};

class ApiComponent final : public Component {
 public:
  explicit ApiComponent(Shared& s) : s_(s) {}
  std::string name() const override { return "api"; }
  Status start() override {
    http::Router router;
    api_ = std::make_unique<api::StoreApi>(*s_.store, *s_.workers, &s_.metrics.registry(), s_.routing.get());
    api_->set_replicator(s_.replicator);
    api_->add_routes(router);
    if (auto c = api_->collectable()) s_.metrics.add_collectable(c);
    peers_api_ = std::make_unique<api::PeersApi>(s_.host);
    peers_api_->add_routes(router);
    pubsub_api_ = std::make_unique<api::PubsubApi>(s_.pubsub);
    pubsub_api_->add_routes(router);
    agents_api_ = std::make_unique<api::AgentsApi>(s_.agent);
    agents_api_->add_routes(router);
    dht_api_ = std::make_unique<api::DhtApi>(s_.host, s_.dht);
    dht_api_->add_routes(router);
    replication_api_ = std::make_unique<api::ReplicationApi>(s_.replicator);
    replication_api_->add_routes(router);
    router.add(boost::beast::http::verb::get, "/metrics", [&s = s_](http::Exchange& ex) -> asio::awaitable<void> {
      // Collecting reads the store's counters: disk work, so off the event loop.
      auto text = co_await bzzz::run_blocking(*s.workers, [&] { return s.metrics.serialize(); });
      co_await ex.send(http::Status_::ok, std::move(text), metrics::Metrics::kContentType);
    });
    router.add(boost::beast::http::verb::get, "/v1/status", [&s = s_](http::Exchange& ex) -> asio::awaitable<void> {
      nlohmann::json components = nlohmann::json::array();
      for (const auto& st : s.lifecycle->states()) {
        components.push_back({{"name", st.name}, {"state", st.state}, {"detail", st.detail}});
      }
      std::error_code ec;
      auto data_dir = std::filesystem::absolute(s.settings.data_dir, ec).lexically_normal().string();
      nlohmann::json doc = {
          {"version", s.build.version},
          {"commit", s.build.commit},
          {"uptime_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - s.started).count()},
          {"node_id", s.host ? nlohmann::json(s.host->id().to_string()) : nlohmann::json(nullptr)},
          {"data_dir", data_dir},
          {"ready", s.health.ready().status != health::Status::kFail},
          {"components", components}};
      co_await ex.send_json(http::Status_::ok, doc);
    });
    http::ServerOptions options = s_.settings.api;
    options.bearer_token = s_.settings.api_token;
    server_ = std::make_unique<http::Server>(s_.io, options, std::move(router), &s_.health,
                                             &s_.metrics.registry());
    BZZZ_TRY(server_->start());
    spdlog::info("api listening on http://{}:{}", options.host, server_->port());
    return ok();
  }
  void stop_accepting() override {
    server_->stop_accepting();
    server_->drain();
  }
  bool idle() const override { return server_->in_flight() == 0; }
  void force_close() override { server_->close_all(); }
  void close() override { server_->close_all(); }
  std::string describe() const override {
    return fmt::format("port {}, {} connections, {} requests in flight", server_ ? server_->port() : 0,
                       server_ ? server_->connections() : 0, server_ ? server_->in_flight() : 0);
  }

 private:
  Shared& s_;
  std::unique_ptr<api::StoreApi> api_;
  std::unique_ptr<api::PeersApi> peers_api_;
  std::unique_ptr<api::PubsubApi> pubsub_api_;
  std::unique_ptr<api::AgentsApi> agents_api_;
  std::unique_ptr<api::DhtApi> dht_api_;
  std::unique_ptr<api::ReplicationApi> replication_api_;
  std::unique_ptr<http::Server> server_;
};

void dump_state(Shared& s) {
  spdlog::info("state dump (SIGQUIT): uptime {:.0f} s",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - s.started).count());
  for (const auto& st : s.lifecycle->states()) {
    spdlog::info("  component {}: {} {}", st.name, st.state, st.detail);
  }
  for (const auto& line : [&] {
         std::vector<std::string> lines;
         std::string all = s.health.dump();
         size_t pos = 0;
         while (pos < all.size()) {
           size_t nl = all.find('\n', pos);
           lines.push_back(all.substr(pos, nl - pos));
           if (nl == std::string::npos) break;
           pos = nl + 1;
         }
         return lines;
       }()) {
    if (!line.empty()) spdlog::info("  health {}", line);
  }
}

}  // namespace

int run_node(const NodeSettings& settings, const BuildInfo& build) {
  if (auto logged = logging::setup(settings.log); !logged) {
    fmt::print(stderr, "bzzz: {}\n", logged.error().message());
    return 2;
  }
  Shared s(settings, build);
  s.metrics.set_build_info(build.version, build.commit);
  Lifecycle lifecycle([](const std::string& line) { spdlog::info("{}", line); });
  s.lifecycle = &lifecycle;
  // start order, shutdown priority, timeout of its blocking shutdown steps
  lifecycle.add(std::make_shared<WorkersComponent>(s), 0, 20, 10s);
  lifecycle.add(std::make_shared<StoreComponent>(s), 1, 30, 30s);
  lifecycle.add(std::make_shared<P2pComponent>(s), 2, 15, 5s);
  lifecycle.add(std::make_shared<HealthComponent>(s), 3, 0, 5s);
  lifecycle.add(std::make_shared<ApiComponent>(s), 4, 10, 5s);

  // Signals are handled on the loop (asio runs the handler there, not in the signal
  // context); the shutdown itself runs on this thread while the loop keeps serving.
  auto signals_owner = std::make_unique<asio::signal_set>(s.io, SIGINT, SIGTERM, SIGQUIT);
  auto& signals = *signals_owner;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGQUIT) {
          dump_state(s);
        } else {
          bool again;
          {
            std::lock_guard lock(s.stop_mu);
            again = s.stop_requested;
          }
          if (again) {
            spdlog::warn("second signal ({}): exiting now, without finishing the shutdown", strsignal(signo));
            logging::flush();
            std::_Exit(1);
          }
          spdlog::info("{} received: shutting down (send it again to exit at once)", strsignal(signo));
          s.request_stop(strsignal(signo));
        }
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  auto work = asio::make_work_guard(s.io);
  std::vector<std::thread> io_threads;
  for (unsigned i = 0; i < settings.io_threads; ++i) io_threads.emplace_back([&] { s.io.run(); });

  int code = 0;
  if (auto started = lifecycle.start(); !started) {
    spdlog::error("{}", started.error().message());
    s.request_stop("start failed");
    code = 1;
  } else {
    s.health.set_phase("running", true);
    spdlog::info("bzzz node {} ready; data dir {}; Ctrl-C (SIGINT) or SIGTERM stops it", build.version,
                 settings.data_dir);
  }
  {
    std::unique_lock lock(s.stop_mu);
    s.stop_cv.wait(lock, [&] { return s.stop_requested; });
  }
  if (code == 0) spdlog::info("stopping: {}", s.stop_reason);
  bool clean = lifecycle.shutdown({settings.drain_delay, settings.shutdown_timeout, 20ms}, s.force);
  if (!clean) code = 1;

  // From here a late signal must not kill the process mid-exit (a default SIGINT would
  // turn a clean exit 0 into 130): it is ignored once asio lets go of it.
  signals_owner.reset();
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  work.reset();
  s.io.stop();
  for (auto& t : io_threads) t.join();
  spdlog::info("bzzz node stopped (exit {})", code);
  logging::flush();
  if (!clean) {
    // A step was abandoned and may still be running on a detached thread: leave
    // without running destructors it could race with.
    std::_Exit(code);
  }
  return code;
}

}  // namespace bzzz::node
