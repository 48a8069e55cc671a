// The Kademlia DHT (src/p2p/dht) at 50 and 200 nodes in one process on loopback, for
// bench/dht.sh. For each network size:
//   1. N hosts with a Dht each (server mode, records in memory); each dials --dials
//      random others, then every node refreshes its table (a self lookup and one
//      lookup per bucket), 10 at a time.
//   2. --rounds rounds: a random node provides a fresh key, then every other node asks
//      find_providers(key, 1), one lookup at a time.
// Reported: the latency of the lookups that went to the network (p50, p99; nodes that
// hold the provider entry themselves answer locally and are counted apart), their
// median hops (the depth of the answering peer in the lookup's discovery tree), and the
// share of nodes that found the provider.
//
// File descriptors: every connection costs two here (both ends are in this process), so
// RLIMIT_NOFILE is raised to its hard limit, and with --max-conns a connection manager
// of the bench's own closes idle connections (no open stream) of hosts above that many,
// routing-table peers last, as go's and js's do; lookups then dial again where needed.
//
//   bzzz_dht_bench [--nodes 50,200] [--rounds 20] [--dials 3] [--threads 2]
//                  [--max-conns 0|N, default 0 below 100 nodes, else 80] [--seed 1]
// One line per size on stdout, then the same as JSON ({"bench":"dht",...}).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "p2p/dht/dht.h"
#include "p2p/host/host.h"

namespace {

namespace asio = boost::asio;
namespace dht = bzzz::p2p::dht;
using namespace std::chrono_literals;
using bzzz::p2p::Host;
using bzzz::p2p::HostOptions;
using bzzz::p2p::Multiaddr;
using bzzz::p2p::PeerId;
using bzzz::p2p::PrivateKey;
using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<size_t> sizes{50, 200};
  size_t rounds = 20;
  size_t dials = 3;
  unsigned threads = 2;
  long max_conns = -1;  // -1: by size
  uint64_t seed = 1;
};

class Loop {
 public:
  explicit Loop(unsigned threads) : guard_(asio::make_work_guard(io_)) {
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~Loop() {
    guard_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  asio::io_context& io() { return io_; }
  template <class T>
  std::optional<T> run(asio::awaitable<T> coro, std::chrono::seconds limit = 60s) {
    auto f = asio::co_spawn(asio::make_strand(io_), std::move(coro), asio::use_future);
    if (f.wait_for(limit) != std::future_status::ready) return std::nullopt;
    return f.get();
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

struct Node {
  std::shared_ptr<Host> host;
  std::shared_ptr<dht::Dht> dht;
};

size_t open_fds() {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    ++n;
  }
  return n;
}

void raise_nofile() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

size_t nofile_limit() {
  rlimit rl{};
  return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? static_cast<size_t>(rl.rlim_cur) : 0;
}

dht::Bytes random_multihash(std::mt19937_64& rng) {
  dht::Bytes mh(34);
  mh[0] = 0x12;
  mh[1] = 0x20;
  for (size_t i = 2; i < mh.size(); ++i) mh[i] = static_cast<uint8_t>(rng());
  return mh;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Closes idle connections (no open stream) of hosts over `max`, down to 90% of it.
class ConnectionManager {
 public:
  ConnectionManager(std::vector<Node>& nodes, size_t max, uint64_t seed) : nodes_(nodes), max_(max), rng_(seed) {
    if (max_ > 0) thread_ = std::thread([this] { run(); });
  }
  ~ConnectionManager() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  size_t closed() const { return closed_.load(); }

 private:
  void run() {
    while (!stop_) {
      for (auto& n : nodes_) {
        auto conns = n.host->connections();
        if (conns.size() <= max_) continue;
        // Peers of the routing table go last (go's manager protects them too): the
        // lookups start from them.
        std::set<PeerId> table;
        for (const auto& e : n.dht->routing_table()) table.insert(e.id);
        std::shuffle(conns.begin(), conns.end(), rng_);
        std::stable_partition(conns.begin(), conns.end(),
                              [&](const auto& c) { return !table.count(c->info().peer); });
        size_t keep = max_ * 9 / 10;
        size_t have = conns.size();
        for (auto& c : conns) {
          if (have <= keep) break;
          if (c->stream_count() != 0 || !c->usable()) continue;
          c->close("bench connection manager: over the limit");
          ++closed_;
          --have;
        }
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  std::vector<Node>& nodes_;
  size_t max_;
  std::mt19937_64 rng_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> closed_{0};
  std::thread thread_;
};

int run_size(size_t n, const Options& o) {
  Loop loop(o.threads);
  std::mt19937_64 rng(o.seed * 1000003 + n);
  size_t max_conns = o.max_conns >= 0 ? static_cast<size_t>(o.max_conns) : (n < 100 ? 0 : 80);
  std::vector<Node> nodes;
  auto t_setup = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    HostOptions ho;
    ho.listen = {*Multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
    ho.max_connections = 4096;
    ho.connection.keepalive_interval = 0ms;
    Node node;
    node.host = Host::create(loop.io(), PrivateKey::generate(), std::move(ho), nullptr);
    dht::DhtOptions d;
    d.refresh_initial_delay = std::chrono::hours(1);
    d.request_timeout = 5s;
    node.dht = dht::Dht::create(*node.host, std::move(d), nullptr);
    if (!node.host->start() || !node.dht->start()) {
      fmt::print(stderr, "dht bench: node {} did not start\n", i);
      return 1;
    }
    nodes.push_back(std::move(node));
  }
  // Bootstrap: each dials a few random others, 20 dials at a time.
  std::vector<std::pair<size_t, size_t>> dials;
  for (size_t i = 0; i < n; ++i) {
    std::vector<size_t> picked;
    while (picked.size() < std::min(o.dials, n - 1)) {
      size_t j = rng() % n;
      if (j != i && std::find(picked.begin(), picked.end(), j) == picked.end()) picked.push_back(j);
    }
    for (size_t j : picked) dials.emplace_back(i, j);
  }
  for (size_t start = 0; start < dials.size(); start += 20) {
    std::vector<std::future<bzzz::Result<std::shared_ptr<bzzz::p2p::net::Connection>>>> batch;
    for (size_t k = start; k < std::min(start + 20, dials.size()); ++k) {
      auto [i, j] = dials[k];
      auto addr = nodes[j].host->listen_addrs().at(0).with_peer_id(nodes[j].host->id());
      batch.push_back(asio::co_spawn(loop.io(), nodes[i].host->connect(addr), asio::use_future));
    }
    for (auto& f : batch) f.wait();
  }
  auto settle = Clock::now() + 20s;
  while (Clock::now() < settle) {
    bool all = std::all_of(nodes.begin(), nodes.end(), [](const Node& x) { return x.dht->routing_table_size() > 0; });
    if (all) break;
    std::this_thread::sleep_for(20ms);
  }
  ConnectionManager manager(nodes, max_conns, rng());
  for (size_t start = 0; start < n; start += 10) {
    std::vector<std::future<bzzz::Status>> batch;
    for (size_t i = start; i < std::min(start + 10, n); ++i) {
      batch.push_back(asio::co_spawn(loop.io(), nodes[i].dht->refresh(), asio::use_future));
    }
    for (auto& f : batch) f.wait();
  }
  double setup_s = std::chrono::duration<double>(Clock::now() - t_setup).count();
  double table = 0;
  for (auto& x : nodes) table += static_cast<double>(x.dht->routing_table_size());
  table /= static_cast<double>(n);

  std::vector<double> latency_ms;  // network lookups
  std::vector<double> hops;
  size_t asked = 0;
  size_t found = 0;
  size_t local = 0;
  size_t peak_fds = open_fds();
  auto t_lookups = Clock::now();
  for (size_t round = 0; round < o.rounds; ++round) {
    size_t provider = rng() % n;
    auto key = random_multihash(rng);
    auto sent = loop.run(nodes[provider].dht->provide(key));
    if (!sent || !*sent) {
      fmt::print(stderr, "dht bench: provide failed in round {}\n", round);
      continue;
    }
    for (size_t i = 0; i < n; ++i) {
      if (i == provider) continue;
      auto before = nodes[i].dht->last_lookup();
      auto t0 = Clock::now();
      auto r = loop.run(nodes[i].dht->find_providers(key, 1));
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      ++asked;
      if (r && *r && !(*r)->empty() && (*r)->front().id == nodes[provider].host->id()) ++found;
      auto after = nodes[i].dht->last_lookup();
      if (after && (!before || after->at != before->at)) {
        latency_ms.push_back(ms);
        hops.push_back(after->hops);
      } else {
        ++local;
      }
    }
    peak_fds = std::max(peak_fds, open_fds());
  }
  double lookups_s = std::chrono::duration<double>(Clock::now() - t_lookups).count();
  size_t conns = 0;
  for (auto& x : nodes) conns += x.host->connection_count();
  double success = asked ? 100.0 * static_cast<double>(found) / static_cast<double>(asked) : 0;
  fmt::print(
      "dht {:>3} nodes: lookup p50 {:.2f} ms, p99 {:.2f} ms ({} network lookups, {} answered locally), median hops {}, "
      "found {}/{} ({:.2f}%); table {:.1f} peers/node, {} connections, peak fds {} of {}, {} closed by the "
      "connection manager (max {}); setup {:.1f} s, lookups {:.1f} s\n",
      n, percentile(latency_ms, 0.5), percentile(latency_ms, 0.99), latency_ms.size(), local, percentile(hops, 0.5),
      found, asked, success, table, conns / 2, peak_fds, nofile_limit(), manager.closed(), max_conns, setup_s,
      lookups_s);
  fmt::print(
      "{{\"bench\":\"dht\",\"nodes\":{},\"p50_ms\":{:.3f},\"p99_ms\":{:.3f},\"network_lookups\":{},\"local\":{},"
      "\"median_hops\":{},\"found\":{},\"asked\":{},\"success_pct\":{:.3f},\"table\":{:.1f},\"connections\":{},"
      "\"peak_fds\":{},\"max_conns\":{},\"closed\":{}}}\n",
      n, percentile(latency_ms, 0.5), percentile(latency_ms, 0.99), latency_ms.size(), local, percentile(hops, 0.5),
      found, asked, success, table, conns / 2, peak_fds, max_conns, manager.closed());
  std::fflush(stdout);
  for (auto& x : nodes) x.dht->stop();
  for (auto& x : nodes) x.host->stop();
  auto idle_by = Clock::now() + 10s;
  while (Clock::now() < idle_by &&
         !std::all_of(nodes.begin(), nodes.end(), [](const Node& x) { return x.host->idle(); })) {
    std::this_thread::sleep_for(20ms);
  }
  return 0;
}

bool parse_list(const std::string& text, std::vector<size_t>& out) {
  out.clear();
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    char* stop = nullptr;
    std::string part = text.substr(start, end - start);
    unsigned long v = std::strtoul(part.c_str(), &stop, 10);
    if (part.empty() || *stop != '\0' || v < 2 || v > 2000) return false;
    out.push_back(v);
    start = end + 1;
  }
  return !out.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto usage = [&] {
    fmt::print(stderr,
               "usage: {} [--nodes 50,200] [--rounds 20] [--dials 3] [--threads 2] [--max-conns N] [--seed 1]\n",
               argv[0]);
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    char* end = nullptr;
    long num = std::strtol(v.c_str(), &end, 10);
    bool is_num = *end == '\0' && !v.empty();
    if (a == "--nodes") {
      if (!parse_list(v, o.sizes)) return usage();
    } else if (a == "--rounds" && is_num && num > 0) {
      o.rounds = static_cast<size_t>(num);
    } else if (a == "--dials" && is_num && num > 0) {
      o.dials = static_cast<size_t>(num);
    } else if (a == "--threads" && is_num && num > 0 && num <= 64) {
      o.threads = static_cast<unsigned>(num);
    } else if (a == "--max-conns" && is_num && num >= 0) {
      o.max_conns = num;
    } else if (a == "--seed" && is_num && num >= 0) {
      o.seed = static_cast<uint64_t>(num);
    } else {
      return usage();
    }
  }
  spdlog::set_level(spdlog::level::err);
  raise_nofile();
  for (size_t n : o.sizes) {
    if (int rc = run_size(n, o); rc != 0) return rc;
  }
  // Stopped hosts may still hold coroutines; leave without unwinding them.
  std::fflush(stdout);
  std::_Exit(0);
}
