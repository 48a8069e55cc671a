// bzzz-dht-probe: the C++ side of tests/interop/dht_interop_test.sh (the node does not
// run the DHT yet). Hosts on 127.0.0.1 with random identities, each with a Dht in
// server mode unless said otherwise.
//
//   bzzz-dht-probe listen [--port 0] [--protocol /bzzz/kad/1.0.0]
//       Two nodes: the main one (on --port) and a helper connected to it. The main node
//       stores a signed record under /bzzz/<main id>/interop (value "from-cpp", seq 1)
//       and provides sha256-multihash("bzzz-interop-cpp"), then prints
//         {"event":"listening","peer":..,"addrs":[..],"helper":..,"record_key":..,
//          "provider_key":"<hex>"}
//       and serves until SIGTERM/SIGINT (or stdin's EOF when stdin is a pipe). A "stats"
//       line on stdin prints {"event":"stats","records":..,"providers":..,
//       "routing_table":..,"requests_in":{TYPE:n},"errors":{reason:n}} for the main node.
//
//   bzzz-dht-probe dial MULTIADDR --helper ID [--protocol P] [--timeout 60]
//                  [--checks find_node,put_get,providers]
//       Against `dht_peer.mjs listen` (MULTIADDR its main node, ID its helper): a server
//       node A dials MULTIADDR; a second, client-mode node B with an empty store dials it
//       too and refreshes (B's answers can only come from the js nodes: js's main node
//       does not list itself as a provider, its helper does). One JSON line per check:
//         find_node  B.find_peer(helper), before B's first refresh: addresses B could
//                    only learn from js (B is a client, so js never hands it to the
//                    helper, which therefore never dials it; A is a server, and the
//                    helper's own refresh may dial A at any moment)
//         put_get    A.put_value of a signed /bzzz/<A>/interop-cpp record (accepted by
//                    js), B.get_value of it, and B.get_value(/bzzz/<js id>/interop):
//                    js's own signed record ("from-js"), checked by our validator
//         providers  A.provide(sha256-mh("bzzz-interop-cpp-dial")), B.find_providers of
//                    it (A) and of sha256-mh("bzzz-interop-js") (js's main node)
//       {"check":..,"ok":false,"error":..} on failure; exit 0 iff all passed.
//
// Logs go to stderr (warn unless --verbose); stdout carries only JSON.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>
#include <prometheus/registry.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "base/encoding/hex.h"
#include "p2p/dht/dht.h"
#include "p2p/host/host.h"
#include "support/io_threads.h"

namespace {

namespace asio = boost::asio;
namespace dht = bzzz::p2p::dht;
using namespace std::chrono_literals;
using bzzz::Result;
using bzzz::p2p::Host;
using bzzz::p2p::HostOptions;
using bzzz::p2p::Multiaddr;
using bzzz::p2p::PeerId;
using bzzz::p2p::PrivateKey;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

void emit(const json& j) {
  std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

dht::Bytes multihash_of(std::string_view text) {
  dht::Bytes in(text.begin(), text.end());
  auto h = dht::kad_id(in);
  dht::Bytes mh(2 + h.bytes.size());
  mh[0] = 0x12;
  mh[1] = 0x20;
  std::copy(h.bytes.begin(), h.bytes.end(), mh.begin() + 2);
  return mh;
}

struct Node {
  PrivateKey key = PrivateKey::generate();
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<Host> host;
  std::shared_ptr<dht::Dht> dht;
};

Node make_node(asio::io_context& io, uint16_t port, std::string protocol, bool server) {
  Node n;
  HostOptions ho;
  ho.listen = {*Multiaddr::parse("/ip4/127.0.0.1/tcp/" + std::to_string(port))};
  ho.max_connections = 1024;
  ho.agent_version = "bzzz-dht-probe";
  n.host = Host::create(io, n.key, std::move(ho), n.registry.get());
  dht::DhtOptions o;
  o.protocol = std::move(protocol);
  o.server_mode = server;
  n.dht = dht::Dht::create(*n.host, std::move(o), n.registry.get());
  return n;
}

class Runtime : public bzzz::testing::IoThreads {
 public:
  using IoThreads::IoThreads;
  template <class T>
  std::optional<T> run(asio::awaitable<T> coro, Clock::time_point deadline) {
    auto f = asio::co_spawn(asio::make_strand(io()), std::move(coro), asio::use_future);
    if (f.wait_until(deadline) != std::future_status::ready) return std::nullopt;
    return f.get();
  }
};

template <class F>
bool wait_for(F f, std::chrono::milliseconds limit) {
  auto end = Clock::now() + limit;
  while (!f()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

bool in_table(const dht::Dht& d, const PeerId& p) {
  for (const auto& e : d.routing_table()) {
    if (e.id == p) return true;
  }
  return false;
}

json addrs_json(const std::vector<Multiaddr>& addrs) {
  json a = json::array();
  for (const auto& m : addrs) a.push_back(m.to_string());
  return a;
}

std::map<std::string, double> counters(prometheus::Registry& reg, const std::string& family, const std::string& label,
                                       const std::string& only_direction = "") {
  std::map<std::string, double> out;
  for (const auto& f : reg.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      std::string key;
      bool keep = true;
      for (const auto& l : m.label) {
        if (l.name == label) key = l.value;
        if (l.name == "direction" && !only_direction.empty() && l.value != only_direction) keep = false;
      }
      if (keep) out[key] += m.counter.value;
    }
  }
  return out;
}

// --- listen --------------------------------------------------------------------------

int run_listen(Runtime& rt, uint16_t port, const std::string& protocol) {
  Node main = make_node(rt.io(), port, protocol, true);
  Node helper = make_node(rt.io(), 0, protocol, true);
  for (Node* n : {&main, &helper}) {
    if (auto st = n->host->start(); !st) {
      std::fprintf(stderr, "bzzz-dht-probe: %s\n", st.error().message().c_str());
      return 2;
    }
    if (auto st = n->dht->start(); !st) {
      std::fprintf(stderr, "bzzz-dht-probe: %s\n", st.error().message().c_str());
      return 2;
    }
  }
  auto deadline = Clock::now() + 20s;
  auto c = rt.run(helper.host->connect(main.host->listen_addrs().at(0).with_peer_id(main.host->id())), deadline);
  if (!c || !*c || !wait_for([&] { return in_table(*main.dht, helper.host->id()); }, 10s)) {
    std::fprintf(stderr, "bzzz-dht-probe: the helper could not join the main node\n");
    return 1;
  }
  std::string record_key = dht::bzzz_key(main.host->id(), "interop");
  auto value = dht::make_bzzz_record(main.key, "interop", dht::to_bytes("from-cpp"), 1);
  auto put = rt.run(main.dht->put_value(record_key, value), deadline);
  auto provider_key = multihash_of("bzzz-interop-cpp");
  auto provided = rt.run(main.dht->provide(provider_key), deadline);
  if (!put || !*put || !provided || !*provided) {
    std::fprintf(stderr, "bzzz-dht-probe: storing the record or the provider entry failed\n");
    return 1;
  }
  emit({{"event", "listening"},
        {"peer", main.host->id().to_string()},
        {"addrs", addrs_json({main.host->listen_addrs().at(0).with_peer_id(main.host->id())})},
        {"helper", helper.host->id().to_string()},
        {"record_key", record_key},
        {"provider_key", bzzz::hex_encode(provider_key)},
        {"protocol", protocol}});

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  struct stat st {};
  bool pipe_in = fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
  std::thread reader;
  if (pipe_in) {
    reader = std::thread([&] {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (line == "stats") {
          emit({{"event", "stats"},
                {"records", main.dht->record_count()},
                {"providers", main.dht->provider_count()},
                {"routing_table", main.dht->routing_table_size()},
                {"requests_in", counters(*main.registry, "bzzz_dht_requests_total", "type", "in")},
                {"errors", counters(*main.registry, "bzzz_dht_request_errors_total", "reason")}});
        } else if (line == "quit") {
          break;
        }
      }
      kill(getpid(), SIGTERM);
    });
    reader.detach();
  }
  int sig = 0;
  sigwait(&set, &sig);
  main.dht->stop();
  helper.dht->stop();
  main.host->stop();
  helper.host->stop();
  return 0;
}

// --- dial ----------------------------------------------------------------------------

struct Dial {
  Runtime& rt;
  Node a;
  Node b;
  PeerId js;
  PeerId js_helper;
  Clock::time_point deadline;

  json fail(const std::string& check, const std::string& why) {
    return {{"check", check}, {"ok", false}, {"error", why}};
  }

  json find_node() {
    bool known = b.host->connection(js_helper) != nullptr || !b.host->peer_store().addrs(js_helper).empty();
    auto r = rt.run(b.dht->find_peer(js_helper), deadline);
    if (!r) return fail("find_node", "timed out");
    if (!*r) return fail("find_node", r->error().message());
    auto stats = b.dht->last_lookup();
    return {{"check", "find_node"},
            {"ok", !known && !(*r)->empty()},
            {"peer", js_helper.to_string()},
            {"addrs", addrs_json(**r)},
            {"known_before", known},
            {"hops", stats ? stats->hops : -1}};
  }

  json put_get() {
    std::string key = dht::bzzz_key(a.host->id(), "interop-cpp");
    auto value = dht::make_bzzz_record(a.key, "interop-cpp", dht::to_bytes("from-cpp-dial"), 3);
    auto put = rt.run(a.dht->put_value(key, value), deadline);
    if (!put) return fail("put_get", "put timed out");
    if (!*put) return fail("put_get", "put: " + put->error().message());
    if (**put == 0) return fail("put_get", "no js node accepted the PUT_VALUE");
    auto got = rt.run(b.dht->get_value(key), deadline);
    if (!got || !*got) return fail("put_get", "get of our record: " + (got ? got->error().message() : "timed out"));
    if (**got != value) return fail("put_get", "get of our record returned another value");
    std::string js_key = dht::bzzz_key(js, "interop");
    auto theirs = rt.run(b.dht->get_value(js_key), deadline);
    if (!theirs || !*theirs) {
      return fail("put_get", "get of js's record: " + (theirs ? theirs->error().message() : "timed out"));
    }
    auto rec = dht::decode_bzzz_record(**theirs);
    if (!rec) return fail("put_get", rec.error().message());
    return {{"check", "put_get"},
            {"ok", dht::to_string(rec->value) == "from-js"},
            {"accepted", **put},
            {"js_value", dht::to_string(rec->value)},
            {"js_seq", rec->seq}};
  }

  json providers() {
    auto ours = multihash_of("bzzz-interop-cpp-dial");
    auto sent = rt.run(a.dht->provide(ours), deadline);
    if (!sent || !*sent) return fail("providers", "provide: " + (sent ? sent->error().message() : "timed out"));
    if (**sent == 0) return fail("providers", "no js node was sent the ADD_PROVIDER");
    auto found = rt.run(b.dht->find_providers(ours, 1), deadline);
    if (!found || !*found) return fail("providers", "find ours: " + (found ? found->error().message() : "timed out"));
    bool ours_ok = !(*found)->empty() && (*found)->front().id == a.host->id() && !(*found)->front().addrs.empty();
    auto js_found = rt.run(b.dht->find_providers(multihash_of("bzzz-interop-js"), 1), deadline);
    if (!js_found || !*js_found) {
      return fail("providers", "find js's: " + (js_found ? js_found->error().message() : "timed out"));
    }
    bool js_ok = !(*js_found)->empty() && (*js_found)->front().id == js && !(*js_found)->front().addrs.empty();
    json j = {{"check", "providers"}, {"ok", ours_ok && js_ok}, {"sent", **sent}, {"ours_found", ours_ok},
              {"js_found", js_ok}};
    if (!(*js_found)->empty()) j["js_addrs"] = addrs_json((*js_found)->front().addrs);
    return j;
  }
};

int run_dial(Runtime& rt, const Multiaddr& target, const std::string& helper, const std::string& protocol,
             int timeout_s, const std::vector<std::string>& checks) {
  auto js = target.peer_id();
  auto js_helper = PeerId::parse(helper);
  if (!js || !js_helper) {
    std::fprintf(stderr, "bzzz-dht-probe: the target needs /p2p/<id> and --helper a peer id\n");
    return 2;
  }
  Dial d{rt, make_node(rt.io(), 0, protocol, true), make_node(rt.io(), 0, protocol, false), *js, *js_helper,
         Clock::now() + std::chrono::seconds(timeout_s)};
  for (Node* n : {&d.a, &d.b}) {
    if (!n->host->start() || !n->dht->start()) return 2;
    auto c = rt.run(n->host->connect(target), d.deadline);
    if (!c || !*c) {
      std::fprintf(stderr, "bzzz-dht-probe: cannot connect to %s: %s\n", target.to_string().c_str(),
                   c ? (*c).error().message().c_str() : "timed out");
      return 1;
    }
    if (!wait_for([&] { return in_table(*n->dht, *js); }, 10s)) {
      std::fprintf(stderr, "bzzz-dht-probe: the js node never entered the routing table (does it serve %s?)\n",
                   protocol.c_str());
      return 1;
    }
  }
  bool all = true;
  auto run = [&](const std::string& c) {
    json j = c == "find_node" ? d.find_node() : c == "put_get" ? d.put_get() : d.providers();
    all = all && j.value("ok", false);
    emit(j);
  };
  // find_node first: it needs B not to know the helper yet. Then B learns it.
  if (std::find(checks.begin(), checks.end(), "find_node") != checks.end()) run("find_node");
  (void)rt.run(d.b.dht->refresh(), d.deadline);
  for (const auto& c : checks) {
    if (c != "find_node") run(c);
  }
  for (Node* n : {&d.a, &d.b}) {
    n->dht->stop();
    n->host->stop();
  }
  return all ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bzzz-dht-probe: the C++ side of the DHT interop test", "bzzz-dht-probe"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log (to stderr) at debug level");
  std::string protocol(dht::kBzzzKadProtocol);
  uint16_t port = 0;
  auto* listen_cmd = app.add_subcommand("listen", "Serve a main node and a helper");
  listen_cmd->add_option("--port", port, "the main node's port (0: any)");
  listen_cmd->add_option("--protocol", protocol, "the kad protocol id");
  std::string addr_text;
  std::string helper;
  std::string checks = "find_node,put_get,providers";
  int timeout_s = 60;
  auto* dial_cmd = app.add_subcommand("dial", "Run the checks against a js listener");
  dial_cmd->add_option("multiaddr", addr_text, "the js main node (with /p2p/<id>)")->required();
  dial_cmd->add_option("--helper", helper, "the js helper's peer id")->required();
  dial_cmd->add_option("--protocol", protocol, "the kad protocol id");
  dial_cmd->add_option("--checks", checks, "find_node,put_get,providers (in this order)");
  dial_cmd->add_option("--timeout", timeout_s, "overall seconds")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("probe");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);

  int rc = 0;
  if (listen_cmd->parsed()) {
    // Blocked before any thread starts, so that run_listen's sigwait gets them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
  {
    Runtime rt(2);
    if (listen_cmd->parsed()) {
      rc = run_listen(rt, port, protocol);
    } else {
      auto target = Multiaddr::parse(addr_text);
      if (!target) {
        std::fprintf(stderr, "bzzz-dht-probe: bad multiaddr %s\n", addr_text.c_str());
        return 2;
      }
      auto which = split(checks);
      for (const auto& c : which) {
        if (c != "find_node" && c != "put_get" && c != "providers") {
          std::fprintf(stderr, "bzzz-dht-probe: unknown check %s\n", c.c_str());
          return 2;
        }
      }
      rc = run_dial(rt, *target, helper, protocol, timeout_s, which);
    }
    std::fflush(stdout);
    // Everything is stopped; leave without waiting for every coroutine to unwind.
    std::_Exit(rc);
  }
}
