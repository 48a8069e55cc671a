// Test support for the DHT: nodes (a host and its Dht, each with a registry) on one
// loop, connecting them and waiting for their routing tables, reading a metric, and raw
// kad streams for feeding a node bytes by hand.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include "support/metric.h"
#include "p2p/dht/dht.h"
#include "p2p/host_fixture.h"

namespace bzzz::p2p::dht::testing {

using namespace std::chrono_literals;
using p2p::testing::addr_of;
using p2p::testing::eventually;
using p2p::testing::Loop;
using p2p::testing::make_host;

// No automatic refresh: tests call refresh() when they want one.
inline DhtOptions test_options() {
  DhtOptions o;
  o.refresh_initial_delay = std::chrono::hours(1);
  o.request_timeout = 5s;
  return o;
}

struct Node {
  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<Host> host;
  std::shared_ptr<Dht> dht;

  void stop() {
    if (dht) dht->stop();
    if (host) host->stop();
  }
};

// The loop and the registries of its nodes. A host outlives its Node while connections
// still close (their coroutines hold it), and it counts into its registry meanwhile: the
// registries are kept until the loop is gone (members go in reverse order).
struct Cluster {
  Cluster() { spdlog::set_level(spdlog::level::warn); }  // hosts log every connection at info
  std::vector<std::shared_ptr<prometheus::Registry>> registries;
  Loop loop;

  Node make_node(DhtOptions options = test_options(), HostOptions host_options = {}) {
    Node n;
    n.registry = registries.emplace_back(std::make_shared<prometheus::Registry>());
    if (host_options.max_connections == HostOptions{}.max_connections) host_options.max_connections = 500;
    n.host = make_host(loop.io(), host_options, n.registry.get());
    n.dht = Dht::create(*n.host, std::move(options), n.registry.get());
    auto st = n.dht->start();
    EXPECT_TRUE(st) << st.error().message();
    return n;
  }
};

inline bool in_table(const Dht& dht, const PeerId& peer) {
  for (const auto& p : dht.routing_table()) {
    if (p.id == peer) return true;
  }
  return false;
}

// a dials b; both sides identify each other (and put servers in their tables).
inline void connect(Loop& loop, Node& a, Node& b) {
  auto c = loop.run(a.host->connect(addr_of(*b.host)));
  ASSERT_TRUE(c) << c.error().message();
  bool a_server = a.dht->options().server_mode;
  bool b_server = b.dht->options().server_mode;
  ASSERT_TRUE(eventually([&] {
    return (!b_server || in_table(*a.dht, b.host->id())) && (!a_server || in_table(*b.dht, a.host->id()));
  }, 10s));
}

using ::bzzz::testing::metric;

inline Bytes frame_of(const Message& m) { return net::length_prefixed(encode(m)); }

// Writes `frame` on `s`; then reads one response when `expect`. Errors are the stream's.
inline boost::asio::awaitable<Result<std::optional<Message>>> send_raw(std::shared_ptr<net::Stream> s, Bytes frame,
                                                                       bool expect) {
  std::span<const uint8_t> out(frame);
  auto st = co_await s->write(out);
  if (!st) co_return tl::unexpected(st.error());
  if (!expect) co_return std::optional<Message>();
  auto in = co_await net::read_length_prefixed(*s, 4 << 20);
  if (!in) co_return tl::unexpected(in.error());
  if (!*in) co_return make_error(ErrorCode::kProtocol, "end of stream");
  auto m = decode(**in);
  if (!m) co_return tl::unexpected(m.error());
  co_return std::optional<Message>(std::move(*m));
}

inline boost::asio::awaitable<Result<std::shared_ptr<net::Stream>>> open_kad(std::shared_ptr<Host> from, PeerId to) {
  std::vector<std::string> protocols{std::string(kBzzzKadProtocol)};
  co_return co_await from->new_stream(to, std::move(protocols));
}

// A sha2-256 multihash (what js takes for a CID) of `text`.
inline Bytes multihash_of(std::string_view text) {
  Bytes in(text.begin(), text.end());
  KadId h = kad_id(in);
  Bytes mh(2 + h.bytes.size());
  mh[0] = 0x12;
  mh[1] = 0x20;
  std::copy(h.bytes.begin(), h.bytes.end(), mh.begin() + 2);
  return mh;
}

}  // namespace bzzz::p2p::dht::testing
