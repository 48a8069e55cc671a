// bzzz-pubsub-probe: C++ gossipsub nodes in one process, for the interop test against
// js (tests/interop/gossip_interop_test.sh) and for bench/pubsub.sh.
//
//   bzzz-pubsub-probe mesh --nodes N --topic T --publish K --expect M --go FILE
//                     [--stop FILE] [--connect ADDR,ADDR..] [--timeout 60]
//       The C++ mirror of `gossip_peer.mjs mesh` (same output lines): N hosts with a
//       router each, joined in a ring; node i also dials --connect's address i mod
//       its count. Prints "listening" per node and "ready" once every node sees a
//       subscriber of T; waits for FILE; each node publishes K messages
//       "<peer id>/<k>"; each waits until it delivered M distinct messages; prints a
//       "result" per node (its mesh as a list of peer ids) and "done" with ok = exactly
//       M each and no duplicate; with --stop, stays up until FILE exists.
//
//   bzzz-pubsub-probe bench [--nodes 50] [--degree 4] [--messages 2000] [--rate 500]
//                     [--size 256]
//       N nodes, each dialing --degree random others; all subscribe; one node at a
//       time (round robin) publishes --messages messages at --rate per second. Every
//       delivery's latency (publish to delivery, one clock) is recorded. Prints
//       {"bench":"gossip_latency","nodes":N,"p50_ms":..,"p99_ms":..,"delivered":..,
//        "expected":..,"duplicates":..}; then, in a line of three nodes, the first
//       publishes 20,000 messages as fast as its router takes them and the middle one
//       verifies and forwards them: {"bench":"gossip_throughput","msgs_per_s":..} (the
//       rate at which the last one delivered them all).
//
// stdout carries only JSON lines; logs go to stderr (warn level unless --verbose).
// Exit 0 on success, 1 on a failed check or timeout, 2 on bad usage.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "p2p/host/host.h"
#include "p2p/pubsub/router.h"
#include "support/io_threads.h"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using bzzz::p2p::Host;
using bzzz::p2p::HostOptions;
using bzzz::p2p::Multiaddr;
using bzzz::p2p::PrivateKey;
using bzzz::p2p::pubsub::Message;
using bzzz::p2p::pubsub::Router;
using bzzz::p2p::pubsub::Subscription;
using Clock = std::chrono::steady_clock;

void emit(const nlohmann::json& j) {
  std::cout << j.dump() << std::endl;
}

struct Node {
  std::shared_ptr<Host> host;
  std::shared_ptr<Router> router;
  std::shared_ptr<Subscription> sub;
};

struct Swarm {
  bzzz::testing::IoThreads threads{2};
  std::vector<Node> nodes;

  Swarm(size_t n, const std::string& topic, bzzz::p2p::pubsub::Options options = {}) {
    HostOptions ho;
    ho.listen = {*Multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
    ho.max_connections = 1000;
    ho.connection.keepalive_interval = 0ms;
    for (size_t i = 0; i < n; ++i) {
      Node node;
      node.host = Host::create(threads.io(), PrivateKey::generate(), ho, nullptr);
      if (auto st = node.host->start(); !st) throw std::runtime_error(st.error().message());
      node.router = Router::create(*node.host, options, nullptr);
      node.router->start();
      node.sub = node.router->subscribe(topic);
      nodes.push_back(std::move(node));
    }
  }
  ~Swarm() {
    for (auto& n : nodes) n.router->stop();
    for (auto& n : nodes) n.host->stop();
    auto end = Clock::now() + 5s;
    while (Clock::now() < end) {
      bool idle = std::all_of(nodes.begin(), nodes.end(), [](const Node& n) { return n.host->idle(); });
      if (idle) break;
      std::this_thread::sleep_for(10ms);
    }
  }
  Multiaddr addr(size_t i) const { return nodes[i].host->listen_addrs().at(0).with_peer_id(nodes[i].host->id()); }
  bool dial(size_t from, Multiaddr to) {
    auto f = asio::co_spawn(threads.io(), nodes[from].host->connect(std::move(to)), asio::use_future);
    auto r = f.get();
    if (!r) spdlog::warn("dial from node {}: {}", from, r.error().message());
    return static_cast<bool>(r);
  }
  bool every_node_sees_subscribers(const std::string& topic, size_t min) const {
    for (const auto& n : nodes) {
      bool ok = false;
      for (const auto& t : n.router->topics()) {
        if (t.topic == topic && t.peers.size() >= min) ok = true;
      }
      if (!ok) return false;
    }
    return true;
  }
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

int run_mesh(size_t n, const std::string& topic, size_t k, size_t expect, const std::string& go,
             const std::string& stop, const std::string& connect, int timeout_s) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  Swarm swarm(n, topic);
  for (size_t i = 0; i < n; ++i) emit({{"event", "listening"}, {"index", i}, {"addr", swarm.addr(i).to_string()}});
  for (size_t i = 0; n > 1 && i < n; ++i) swarm.dial(i, swarm.addr((i + 1) % n));
  auto remotes = split(connect);
  for (size_t i = 0; i < n && !remotes.empty(); ++i) {
    auto addr = Multiaddr::parse(remotes[i % remotes.size()]);
    if (!addr) {
      std::fprintf(stderr, "bzzz-pubsub-probe: bad --connect address %s: %s\n", remotes[i % remotes.size()].c_str(),
                   addr.error().message().c_str());
      return 2;
    }
    if (!swarm.dial(i, *addr)) {
      emit({{"event", "done"}, {"ok", false}, {"error", "dial failed"}});
      return 1;
    }
  }
  while (!swarm.every_node_sees_subscribers(topic, 1)) {
    if (Clock::now() > deadline) {
      emit({{"event", "done"}, {"ok", false}, {"error", "timeout waiting for subscribers"}});
      return 1;
    }
    std::this_thread::sleep_for(50ms);
  }
  emit({{"event", "ready"}});
  while (!std::filesystem::exists(go)) {
    if (Clock::now() > deadline) {
      emit({{"event", "done"}, {"ok", false}, {"error", "timeout waiting for the go file"}});
      return 1;
    }
    std::this_thread::sleep_for(50ms);
  }
  for (size_t j = 0; j < k; ++j) {
    for (auto& node : swarm.nodes) {
      auto text = fmt::format("{}/{}", node.host->id().to_string(), j);
      auto r = node.router->publish(topic, std::vector<uint8_t>(text.begin(), text.end()));
      if (!r) spdlog::warn("publish: {}", r.error().message());
    }
  }
  struct Seen {
    std::map<std::string, int> delivered;
    size_t duplicates = 0;
    size_t from_remote = 0;
  };
  std::vector<Seen> seen(n);
  auto drain = [&] {
    for (size_t i = 0; i < n; ++i) {
      while (auto m = swarm.nodes[i].sub->try_next()) {
        std::string text(m->data.begin(), m->data.end());
        if (++seen[i].delivered[text] > 1) ++seen[i].duplicates;
        if (!m->local) ++seen[i].from_remote;
      }
    }
  };
  bool timed_out = false;
  for (;;) {
    drain();
    bool all = std::all_of(seen.begin(), seen.end(), [&](const Seen& s) { return s.delivered.size() >= expect; });
    if (all) break;
    if (Clock::now() > deadline) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_for(500ms);  // a duplicate would show up now
  drain();
  bool ok = !timed_out;
  for (size_t i = 0; i < n; ++i) {
    auto mesh = nlohmann::json::array();
    for (const auto& t : swarm.nodes[i].router->topics()) {
      if (t.topic != topic) continue;
      for (const auto& p : t.mesh) mesh.push_back(p.to_string());
    }
    emit({{"event", "result"}, {"index", i}, {"delivered", seen[i].delivered.size()}, {"duplicates", seen[i].duplicates},
          {"from_remote", seen[i].from_remote}, {"mesh", mesh}});
    if (seen[i].delivered.size() != expect || seen[i].duplicates != 0) ok = false;
  }
  emit({{"event", "done"}, {"ok", ok}});
  while (!stop.empty() && !std::filesystem::exists(stop) && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  return ok ? 0 : 1;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

int run_bench(size_t n, size_t degree, size_t messages, double rate, size_t size) {
  const std::string topic = "bench";
  Swarm swarm(n, topic);
  std::mt19937 rng(42);
  for (size_t i = 1; i < n; ++i) {
    std::set<size_t> peers;
    while (peers.size() < std::min(degree, i)) peers.insert(rng() % i);
    for (size_t p : peers) swarm.dial(i, swarm.addr(p));
  }
  auto deadline = Clock::now() + 60s;
  while (!swarm.every_node_sees_subscribers(topic, 1) && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  std::this_thread::sleep_for(3s);  // meshes settle over a few heartbeats

  // Latency: each message carries its publish time (one process, one clock).
  std::vector<double> latencies;
  size_t duplicates = 0;
  std::vector<std::set<uint64_t>> got(n);
  auto drain = [&](size_t first_seq) {
    auto now = Clock::now().time_since_epoch().count();
    for (size_t i = 0; i < n; ++i) {
      while (auto m = swarm.nodes[i].sub->try_next()) {
        if (m->local || m->data.size() < 16) continue;
        uint64_t seq = 0, sent = 0;
        std::memcpy(&seq, m->data.data(), 8);
        std::memcpy(&sent, m->data.data() + 8, 8);
        if (seq < first_seq) continue;
        if (!got[i].insert(seq).second) {
          ++duplicates;
          continue;
        }
        latencies.push_back(static_cast<double>(now - static_cast<int64_t>(sent)) / 1e6);
      }
    }
  };
  auto interval = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / rate));
  auto next = Clock::now();
  for (size_t s = 0; s < messages; ++s) {
    std::vector<uint8_t> data(std::max<size_t>(size, 16));
    uint64_t seq = s;
    uint64_t now = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
    std::memcpy(data.data(), &seq, 8);
    std::memcpy(data.data() + 8, &now, 8);
    swarm.nodes[s % n].router->publish(topic, std::move(data));
    next += interval;
    while (Clock::now() < next) {
      drain(0);
      std::this_thread::sleep_for(100us);
    }
  }
  auto end = Clock::now() + 10s;
  const size_t expected = messages * (n - 1);
  while (latencies.size() < expected && Clock::now() < end) {
    drain(0);
    std::this_thread::sleep_for(1ms);
  }
  emit({{"bench", "gossip_latency"}, {"impl", "cpp"}, {"nodes", n}, {"p50_ms", percentile(latencies, 0.5)},
        {"p99_ms", percentile(latencies, 0.99)}, {"delivered", latencies.size()}, {"expected", expected},
        {"duplicates", duplicates}});

  bool latency_ok = latencies.size() == expected;

  // Throughput through one node: three nodes in a line, the first publishes as fast as
  // the router takes them, the middle one verifies and forwards, the last delivers;
  // timed until the last delivered them all. (All 50 verifying every message would
  // measure this machine's two cores, not one node.)
  Swarm line(3, topic);
  line.dial(1, line.addr(0));
  line.dial(2, line.addr(1));
  deadline = Clock::now() + 30s;
  while (!line.every_node_sees_subscribers(topic, 1) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  std::this_thread::sleep_for(1500ms);
  const size_t burst = 20000;
  size_t delivered = 0;
  auto drain_last = [&] {
    while (auto m = line.nodes[2].sub->try_next()) delivered += m->local ? 0 : 1;
    while (line.nodes[1].sub->try_next()) {
    }
  };
  auto t0 = Clock::now();
  for (size_t s = 0; s < burst; ++s) {
    std::vector<uint8_t> data(std::max<size_t>(size, 16));
    uint64_t seq = s;
    std::memcpy(data.data(), &seq, 8);
    line.nodes[0].router->publish(topic, std::move(data));
    if (s % 256 == 0) drain_last();
  }
  end = Clock::now() + 60s;
  while (delivered < burst && Clock::now() < end) {
    drain_last();
    std::this_thread::sleep_for(1ms);
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  emit({{"bench", "gossip_throughput"}, {"impl", "cpp"}, {"nodes", 3}, {"messages", burst}, {"size", size},
        {"delivered", delivered}, {"seconds", secs}, {"msgs_per_s", static_cast<double>(delivered) / secs}});
  return latency_ok && delivered == burst ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bzzz-pubsub-probe: gossipsub nodes for interop tests and benchmarks", "bzzz-pubsub-probe"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log (to stderr) at info level");
  size_t nodes = 1, publish = 5, expect = 0, degree = 4, messages = 2000, size = 256;
  double rate = 500;
  int timeout = 60;
  std::string topic = "interop-test", go, stop, connect;
  auto* mesh = app.add_subcommand("mesh", "the interop mesh (see the file header)");
  mesh->add_option("--nodes", nodes)->check(CLI::Range(1, 1000));
  mesh->add_option("--topic", topic);
  mesh->add_option("--publish", publish);
  mesh->add_option("--expect", expect);
  mesh->add_option("--go", go)->required();
  mesh->add_option("--stop", stop);
  mesh->add_option("--connect", connect);
  mesh->add_option("--timeout", timeout)->check(CLI::Range(1, 3600));
  auto* bench = app.add_subcommand("bench", "latency and throughput in an in-process mesh");
  bench->add_option("--nodes", nodes)->check(CLI::Range(2, 1000));
  bench->add_option("--degree", degree)->check(CLI::Range(1, 100));
  bench->add_option("--messages", messages);
  bench->add_option("--rate", rate)->check(CLI::Range(1.0, 1e6));
  bench->add_option("--size", size)->check(CLI::Range(16, 1 << 20));
  nodes = 0;
  CLI11_PARSE(app, argc, argv);
  auto logger = spdlog::stderr_color_mt("probe");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (*mesh) return run_mesh(nodes == 0 ? 1 : nodes, topic, publish, expect, go, stop, connect, timeout);
  return run_bench(nodes == 0 ? 50 : nodes, degree, messages, rate, size);
}
