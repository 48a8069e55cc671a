#include "p2p/host/host.h"

#include <ifaddrs.h>
#include <net/if.h>

#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "p2p/host/identify.h"
#include "p2p/net/mss.h"
#include "p2p/net/upgrade.h"

namespace bzzz::p2p {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool is_loopback(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  return a.is_loopback();
}

asio::ip::address plain(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

struct Host::Impl {
  explicit Impl(asio::io_context& io, prometheus::Registry* registry)
      : own(registry ? nullptr : std::make_shared<prometheus::Registry>()),
        reg(registry ? *registry : *own),
        host_strand(asio::make_strand(io)),
        connections(prometheus::BuildGauge().Name("bzzz_p2p_connections").Help("Open libp2p connections by direction").Register(reg)),
        conns_in(connections.Add({{"direction", "inbound"}})),
        conns_out(connections.Add({{"direction", "outbound"}})),
        bytes(prometheus::BuildCounter().Name("bzzz_p2p_bytes_total").Help("Bytes on libp2p connections (after encryption)").Register(reg)),
        bytes_in(bytes.Add({{"direction", "in"}})),
        bytes_out(bytes.Add({{"direction", "out"}})),
        streams(prometheus::BuildCounter().Name("bzzz_p2p_streams_total").Help("Streams negotiated, by protocol and direction").Register(reg)),
        errors(prometheus::BuildCounter().Name("bzzz_p2p_connection_errors_total").Help("Connections that failed or were refused, by reason").Register(reg)),
        handshake(prometheus::BuildHistogram().Name("bzzz_p2p_handshake_seconds").Help("TCP accept/connect to a ready connection (multistream, Noise, yamux)").Register(reg)
                      .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
        ping_rtt(prometheus::BuildHistogram().Name("bzzz_p2p_ping_rtt_seconds").Help("Round trips of /ipfs/ping/1.0.0").Register(reg)
                     .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5})) {}

  void error(std::string_view reason) { errors.Add({{"reason", std::string(reason)}}).Increment(); }
  void stream(const std::string& protocol, bool inbound) {
    streams.Add({{"protocol", protocol}, {"direction", inbound ? "inbound" : "outbound"}}).Increment();
  }

  std::shared_ptr<prometheus::Registry> own;
  prometheus::Registry& reg;
  net::Strand host_strand;  // bootstrap loops and their timers
  std::vector<std::shared_ptr<asio::steady_timer>> timers;  // on host_strand
  std::atomic<size_t> handshaking{0};
  // Inbound connections still in their upgrade, by remote IP (Host::mutex_ guards it):
  // they count toward the per-IP limit, or silent sockets could take every slot.
  std::map<asio::ip::address, size_t> handshaking_by_ip;

  prometheus::Family<prometheus::Gauge>& connections;
  prometheus::Gauge& conns_in;
  prometheus::Gauge& conns_out;
  prometheus::Family<prometheus::Counter>& bytes;
  prometheus::Counter& bytes_in;
  prometheus::Counter& bytes_out;
  prometheus::Family<prometheus::Counter>& streams;
  prometheus::Family<prometheus::Counter>& errors;
  prometheus::Histogram& handshake;
  prometheus::Histogram& ping_rtt;
};

std::vector<asio::ip::address> interface_addresses(bool v6) {
  std::vector<asio::ip::address> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    if (!v6 && i->ifa_addr->sa_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      out.push_back(asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)));
    } else if (v6 && i->ifa_addr->sa_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), sin6->sin6_addr.s6_addr, 16);
      asio::ip::address_v6 a(b);
      if (a.is_link_local()) continue;  // needs a scope id to be dialable
      out.push_back(a);
    }
  }
  freeifaddrs(list);
  return out;
}

// --- construction and the registry -------------------------------------------------

std::shared_ptr<Host> Host::create(asio::io_context& io, PrivateKey identity, HostOptions options,
                                   prometheus::Registry* metrics) {
  std::shared_ptr<Host> host(new Host(io, std::move(identity), std::move(options), metrics));
  std::weak_ptr<Host> weak = host;
  host->handle(std::string(identify::kProtocolId), [weak](std::shared_ptr<net::Stream> s) -> asio::awaitable<void> {
    auto self = weak.lock();
    if (!self) co_return;
    identify::Info info;
    info.public_key = self->public_key();
    info.listen_addrs = self->announced_addrs();
    info.protocols = self->protocols();
    info.observed_addr = s->connection().info().remote_addr;
    info.agent_version = self->options_.agent_version;
    auto msg = net::length_prefixed(identify::encode(info));
    std::span<const uint8_t> msg_span(msg);
    auto st = co_await s->write(msg_span);
    if (!st) co_return;
    co_await s->close();
  });
  host->handle(std::string(kPingProtocol), [](std::shared_ptr<net::Stream> s) -> asio::awaitable<void> {
    std::array<uint8_t, 32> buf;
    for (;;) {
      size_t have = 0;
      while (have < buf.size()) {
        std::span<uint8_t> rest(buf.data() + have, buf.size() - have);
        auto n = co_await s->read_some(rest);
        if (!n || *n == 0) {
          s->close_write();
          co_return;
        }
        have += *n;
      }
      std::span<const uint8_t> echo(buf);
      auto st = co_await s->write(echo);
      if (!st) co_return;
    }
  });
  return host;
}

Host::Host(asio::io_context& io, PrivateKey identity, HostOptions options, prometheus::Registry* metrics)
    : io_(io),
      identity_(std::move(identity)),
      id_(PeerId::from_public_key(identity_.public_key())),
      options_(std::move(options)),
      impl_(std::make_unique<Impl>(io, metrics)) {}

Host::~Host() = default;

void Host::handle(std::string protocol, Handler handler) {
  std::lock_guard lock(mutex_);
  handlers_[std::move(protocol)] = std::move(handler);
}

std::vector<std::string> Host::protocols() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [p, h] : handlers_) out.push_back(p);
  return out;
}

Host::Handler Host::handler_for(std::string_view protocol) const {
  std::lock_guard lock(mutex_);
  auto it = handlers_.find(protocol);
  return it == handlers_.end() ? Handler() : it->second;
}

void Host::subscribe(EventHandler handler) {
  std::lock_guard lock(mutex_);
  subscribers_.push_back(std::move(handler));
}

void Host::emit(const PeerEvent& event) {
  std::vector<EventHandler> subs;
  {
    std::lock_guard lock(mutex_);
    subs = subscribers_;
  }
  for (auto& s : subs) s(event);
}

// --- listening ---------------------------------------------------------------------

Status Host::start() {
  for (const auto& addr : options_.listen) {
    auto ep = addr.tcp_endpoint();
    if (!ep || ep->needs_resolving) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("p2p: cannot listen on {}: an /ip4 or /ip6 address with /tcp is needed",
                                    addr.to_string()));
    }
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(ep->host, ec);
    if (ec) return make_error(ErrorCode::kInvalidArgument, fmt::format("p2p: bad listen address {}", addr.to_string()));
    tcp::endpoint endpoint(ip, ep->port);
    auto acceptor = std::make_shared<tcp::acceptor>(asio::make_strand(io_));
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && ip.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return make_error(ec == asio::error::address_in_use ? ErrorCode::kBusy : ErrorCode::kIo,
                        fmt::format("p2p: cannot listen on {}: {}", addr.to_string(), ec.message()));
    }
    auto bound = net::to_multiaddr(acceptor->local_endpoint());
    {
      std::lock_guard lock(mutex_);
      acceptors_.push_back(acceptor);
      bound_.push_back(bound);
    }
    spdlog::info("p2p: listening on {}", bound.with_peer_id(id_).to_string());
    asio::co_spawn(acceptor->get_executor(), accept_loop(acceptor), asio::detached);
  }
  for (const auto& b : options_.bootstrap) {
    asio::co_spawn(impl_->host_strand, bootstrap_loop(b), asio::detached);
  }
  return ok();
}

void Host::stop() {
  if (stopped_.exchange(true)) return;
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::vector<std::shared_ptr<net::Connection>> conns;
  {
    std::lock_guard lock(mutex_);
    acceptors = acceptors_;
    for (auto& [peer, c] : conns_) conns.push_back(c);
  }
  for (auto& a : acceptors) {
    asio::dispatch(a->get_executor(), [a] {
      boost::system::error_code ignored;
      a->close(ignored);
    });
  }
  asio::dispatch(impl_->host_strand, [self = shared_from_this()] {
    for (auto& t : self->impl_->timers) t->cancel();
  });
  for (auto& c : conns) c->close("the node is shutting down");
}

std::vector<Multiaddr> Host::listen_addrs() const {
  std::lock_guard lock(mutex_);
  return bound_;
}

std::vector<Multiaddr> Host::announced_addrs() const {
  if (!options_.announce.empty()) return options_.announce;
  std::vector<Multiaddr> out;
  for (const auto& addr : listen_addrs()) {
    auto ep = addr.tcp_endpoint();
    boost::system::error_code ec;
    auto ip = ep ? asio::ip::make_address(ep->host, ec) : asio::ip::address();
    if (!ep || ec || !ip.is_unspecified()) {
      out.push_back(addr);
      continue;
    }
    for (const auto& a : interface_addresses(ip.is_v6())) out.push_back(net::to_multiaddr(tcp::endpoint(a, ep->port)));
  }
  return out;
}

bool Host::over_limits(const asio::ip::address& remote, std::string& why) const {
  std::lock_guard lock(mutex_);
  size_t total = conns_.size() + impl_->handshaking.load();
  if (total >= options_.max_connections) {
    why = fmt::format("connection limit ({}) reached", options_.max_connections);
    return true;
  }
  if (is_loopback(remote) || options_.max_connections_per_ip == 0) return false;
  auto ip = plain(remote);
  auto pending = impl_->handshaking_by_ip.find(ip);
  size_t same = pending == impl_->handshaking_by_ip.end() ? 0 : pending->second;
  for (const auto& [peer, c] : conns_) {
    auto ep = c->info().remote_addr.tcp_endpoint();
    boost::system::error_code ec;
    if (ep && asio::ip::make_address(ep->host, ec) == ip && !ec) ++same;
  }
  if (same >= options_.max_connections_per_ip) {
    why = fmt::format("limit of {} connections per IP reached for {}", options_.max_connections_per_ip, ip.to_string());
    return true;
  }
  return false;
}

asio::awaitable<void> Host::accept_loop(std::shared_ptr<tcp::acceptor> acceptor) {
  auto self = shared_from_this();
  for (;;) {
    tcp::socket socket(asio::make_strand(io_));
    auto [ec] = co_await acceptor->async_accept(socket, kTuple);
    if (stopped_ || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      spdlog::warn("p2p: accept failed: {}", ec.message());
      asio::steady_timer pause(acceptor->get_executor(), 100ms);
      co_await pause.async_wait(kTuple);
      continue;
    }
    boost::system::error_code rec;
    auto remote = socket.remote_endpoint(rec);
    std::string why;
    if (rec || over_limits(remote.address(), why)) {
      if (!rec) spdlog::info("p2p: refusing a connection from {}: {}", net::to_multiaddr(remote).to_string(), why);
      impl_->error("limit");
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    run_upgrade(std::move(socket));
  }
}

void Host::count_handshake(const asio::ip::address& remote, int delta) {
  std::lock_guard lock(mutex_);
  auto& n = impl_->handshaking_by_ip[plain(remote)];
  n += delta;
  if (n == 0) impl_->handshaking_by_ip.erase(plain(remote));
}

void Host::run_upgrade(tcp::socket socket) {
  auto ex = socket.get_executor();
  boost::system::error_code rec;
  auto remote_ip = socket.remote_endpoint(rec).address();
  ++impl_->handshaking;
  count_handshake(remote_ip, +1);
  asio::co_spawn(
      ex,
      [self = shared_from_this(), socket = std::move(socket), remote_ip]() mutable -> asio::awaitable<void> {
        boost::system::error_code ec;
        auto remote = socket.remote_endpoint(ec);
        auto t0 = std::chrono::steady_clock::now();
        net::UpgradeOptions opts{&self->identity_, self->options_.handshake_timeout, self->options_.connection};
        auto conn = co_await net::upgrade(std::move(socket), false, std::nullopt, opts);
        --self->impl_->handshaking;
        self->count_handshake(remote_ip, -1);
        if (!conn) {
          spdlog::info("p2p: inbound connection from {} failed: {}", net::to_multiaddr(remote).to_string(),
                       conn.error().message());
          self->impl_->error(error_code_name(conn.error().code()));
          co_return;
        }
        self->impl_->handshake.Observe(seconds_since(t0));
        self->adopt(std::move(*conn));
      },
      asio::detached);
}

// --- connections -------------------------------------------------------------------

std::shared_ptr<net::Connection> Host::adopt(std::shared_ptr<net::Connection> conn) {
  const PeerId peer = conn->info().peer;
  std::shared_ptr<net::Connection> keep = conn;
  std::shared_ptr<net::Connection> drop;
  {
    std::lock_guard lock(mutex_);
    // Of two connections to one peer, both sides keep the one the lower id dialed.
    auto dialer = [&](const net::Connection& c) { return c.info().outbound ? id_ : peer; };
    const PeerId& preferred = std::min(id_, peer);
    for (auto [it, end] = conns_.equal_range(peer); it != end; ++it) {
      if (!it->second->usable()) continue;
      if (dialer(*it->second) == preferred && dialer(*conn) != preferred) {
        keep = it->second;
        drop = conn;
      } else {
        drop = it->second;
      }
      break;
    }
    if (stopped_) drop = conn;
    if (drop != conn) conns_.emplace(peer, conn);
  }
  std::weak_ptr<Host> weak = shared_from_this();
  conn->set_counters({[weak](uint64_t n) {
                        if (auto h = weak.lock()) h->impl_->bytes_in.Increment(static_cast<double>(n));
                      },
                      [weak](uint64_t n) {
                        if (auto h = weak.lock()) h->impl_->bytes_out.Increment(static_cast<double>(n));
                      }});
  conn->start(
      [weak](std::shared_ptr<net::Stream> stream) {
        auto self = weak.lock();
        if (!self) {
          stream->reset();
          return;
        }
        auto ex = stream->connection().strand();
        asio::co_spawn(ex, self->serve_stream(std::move(stream)), asio::detached);
      },
      [weak](net::Connection& c, const Error& reason) {
        if (auto self = weak.lock()) self->on_closed(c, reason);
      });
  if (drop == conn) {
    conn->close(stopped_ ? "the node is shutting down" : "duplicate connection");
    return keep;
  }
  (conn->info().outbound ? impl_->conns_out : impl_->conns_in).Increment();
  peers_.connected(peer);
  spdlog::info("p2p: connected to {} ({} {})", peer.to_string(), conn->info().outbound ? "dialed" : "from",
               conn->info().remote_addr.to_string());
  emit(PeerEvent{PeerEvent::Kind::kConnected, peer, {}});
  asio::co_spawn(conn->strand(), identify_remote(conn), asio::detached);
  if (drop) drop->close("duplicate connection");
  return keep;
}

void Host::on_closed(net::Connection& conn, const Error& reason) {
  bool was = false;
  {
    std::lock_guard lock(mutex_);
    for (auto [it, end] = conns_.equal_range(conn.info().peer); it != end; ++it) {
      if (it->second.get() == &conn) {
        conns_.erase(it);
        was = true;
        break;
      }
    }
  }
  if (!was) return;
  (conn.info().outbound ? impl_->conns_out : impl_->conns_in).Decrement();
  peers_.disconnected(conn.info().peer);
  if (reason.code() != ErrorCode::kUnavailable) impl_->error(error_code_name(reason.code()));
  spdlog::info("p2p: disconnected from {}: {}", conn.info().peer.to_string(), reason.message());
  emit(PeerEvent{PeerEvent::Kind::kDisconnected, conn.info().peer, reason.message()});
}

std::shared_ptr<net::Connection> Host::connection(const PeerId& peer) const {
  std::lock_guard lock(mutex_);
  for (auto [it, end] = conns_.equal_range(peer); it != end; ++it) {
    if (it->second->usable()) return it->second;
  }
  return nullptr;
}

std::vector<std::shared_ptr<net::Connection>> Host::connections() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<net::Connection>> out;
  for (const auto& [p, c] : conns_) out.push_back(c);
  return out;
}

size_t Host::connection_count() const {
  std::lock_guard lock(mutex_);
  return conns_.size();
}

bool Host::disconnect(PeerId peer) {
  std::vector<std::shared_ptr<net::Connection>> conns;
  {
    std::lock_guard lock(mutex_);
    for (auto [it, end] = conns_.equal_range(peer); it != end; ++it) conns.push_back(it->second);
  }
  for (auto& c : conns) c->close("disconnected on request");
  return !conns.empty();
}

// --- dialing -----------------------------------------------------------------------

asio::awaitable<Result<std::shared_ptr<net::Connection>>> Host::connect(Multiaddr addr) {
  auto expected = addr.peer_id();
  if (expected && *expected == id_) {
    co_return make_error(ErrorCode::kInvalidArgument, fmt::format("p2p: {} is this node", addr.to_string()));
  }
  if (!expected) co_return co_await dial(addr, std::nullopt);
  // One dial per peer at a time: later callers wait for it, then use its connection.
  for (;;) {
    if (auto c = connection(*expected)) co_return c;
    {
      std::lock_guard lock(mutex_);
      if (dialing_[*expected] == 0) {
        dialing_[*expected] = 1;
        break;
      }
    }
    asio::steady_timer wait(co_await asio::this_coro::executor, 10ms);
    co_await wait.async_wait(kTuple);
  }
  auto result = co_await dial(addr, expected);
  {
    std::lock_guard lock(mutex_);
    dialing_.erase(*expected);
  }
  co_return result;
}

asio::awaitable<Result<std::shared_ptr<net::Connection>>> Host::connect(PeerId peer) {
  if (auto c = connection(peer)) co_return c;
  auto addrs = peers_.addrs(peer);
  if (addrs.empty()) {
    co_return make_error(ErrorCode::kNotFound, fmt::format("p2p: no known address for peer {}", peer.to_string()));
  }
  std::optional<Error> last;
  for (const auto& a : addrs) {
    auto c = co_await connect(a.with_peer_id(peer));
    if (c) co_return c;
    last = c.error();
  }
  co_return tl::unexpected(*last);
}

asio::awaitable<Result<std::shared_ptr<net::Connection>>> Host::dial(Multiaddr addr,
                                                                     std::optional<PeerId> expected) {
  if (stopped_) co_return make_error(ErrorCode::kUnavailable, "p2p: the node is shutting down");
  auto ep = addr.tcp_endpoint();
  if (!ep) {
    co_return make_error(ErrorCode::kInvalidArgument,
                         fmt::format("p2p: cannot dial {}: only TCP addresses are supported", addr.to_string()));
  }
  if (connection_count() + impl_->handshaking.load() >= options_.max_connections) {
    co_return make_error(ErrorCode::kBusy, fmt::format("p2p: cannot dial {}: connection limit ({}) reached",
                                                       addr.to_string(), options_.max_connections));
  }
  auto strand = asio::make_strand(io_);
  auto t0 = std::chrono::steady_clock::now();
  ++impl_->handshaking;
  auto self = shared_from_this();
  // A named lambda: g++ 12 mishandles a capturing lambda temporary inside co_await.
  auto attempt = [self, strand, addr, ep = *ep, expected]() -> asio::awaitable<Result<std::shared_ptr<net::Connection>>> {
        tcp::resolver resolver(strand);
        auto flags = ep.needs_resolving ? tcp::resolver::flags() : tcp::resolver::numeric_host;
        auto [rec, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), flags, kTuple);
        if (rec) {
          co_return make_error(ErrorCode::kUnavailable,
                               fmt::format("p2p: cannot resolve {}: {}", addr.to_string(), rec.message()));
        }
        tcp::socket socket(strand);
        asio::steady_timer deadline(strand, self->options_.dial_timeout);
        bool timed_out = false;
        deadline.async_wait([&](boost::system::error_code ec) {
          if (ec) return;
          timed_out = true;
          boost::system::error_code ignored;
          socket.close(ignored);
        });
        auto [cec, endpoint] = co_await asio::async_connect(socket, results, kTuple);
        deadline.cancel();
        if (timed_out) {
          co_return make_error(ErrorCode::kTimeout, fmt::format("p2p: dialing {} timed out after {} ms",
                                                                addr.to_string(), self->options_.dial_timeout.count()));
        }
        if (cec) {
          co_return make_error(ErrorCode::kUnavailable,
                               fmt::format("p2p: cannot connect to {}: {}", addr.to_string(), cec.message()));
        }
        net::UpgradeOptions opts{&self->identity_, self->options_.handshake_timeout, self->options_.connection};
        auto up = co_await net::upgrade(std::move(socket), true, expected, opts);
        if (!up) {
          co_return make_error(up.error().code(), fmt::format("p2p: {}: {}", addr.to_string(), up.error().message()));
        }
        co_return *up;
      };
  auto conn = co_await asio::co_spawn(strand, std::move(attempt), asio::use_awaitable);
  --impl_->handshaking;
  if (!conn) {
    impl_->error(error_code_name(conn.error().code()));
    co_return tl::unexpected(conn.error());
  }
  impl_->handshake.Observe(seconds_since(t0));
  peers_.add_addrs((*conn)->info().peer, {addr.without_peer_id()});
  co_return adopt(std::move(*conn));
}

asio::awaitable<void> Host::bootstrap_loop(Multiaddr addr) {
  auto self = shared_from_this();
  auto timer = std::make_shared<asio::steady_timer>(impl_->host_strand);
  impl_->timers.push_back(timer);
  auto backoff = options_.backoff_initial;
  std::optional<PeerId> peer = addr.peer_id();
  std::mt19937 rng(std::random_device{}());
  int failures = 0;
  while (!stopped_) {
    std::chrono::milliseconds sleep = std::min<std::chrono::milliseconds>(1000ms, options_.backoff_initial);
    if (!peer || !connection(*peer)) {
      auto conn = co_await connect(addr);
      if (stopped_) break;
      if (conn) {
        peer = (*conn)->info().peer;
        if (failures > 0) spdlog::info("p2p: bootstrap peer {} reached after {} failed attempts", addr.to_string(), failures);
        failures = 0;
        backoff = options_.backoff_initial;
      } else {
        // Jitter of +-20% so restarted nodes do not dial in lockstep.
        std::uniform_real_distribution<double> jitter(0.8, 1.2);
        sleep = std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(backoff.count()) * jitter(rng)));
        if (failures++ == 0) {
          spdlog::warn("p2p: bootstrap peer {}: {}; retrying with backoff", addr.to_string(), conn.error().message());
        } else {
          spdlog::debug("p2p: bootstrap peer {}: {}; next try in {} ms", addr.to_string(), conn.error().message(),
                        sleep.count());
        }
        backoff = std::min(backoff * 2, options_.backoff_max);
      }
    }
    timer->expires_after(sleep);
    co_await timer->async_wait(kTuple);
  }
}

// --- streams -----------------------------------------------------------------------

asio::awaitable<void> Host::serve_stream(std::shared_ptr<net::Stream> stream) {
  auto self = shared_from_this();
  net::MssServer server;
  server.supports = [this](std::string_view p) { return static_cast<bool>(handler_for(p)); };
  server.list = [this] { return protocols(); };
  // A stream that never picks a protocol is reset after the handshake timeout.
  auto deadline = stream->reset_after(options_.handshake_timeout);
  auto chosen = co_await net::mss_handle(*stream, server);
  deadline.cancel();
  if (!chosen) {
    spdlog::debug("p2p: inbound stream from {}: {}", stream->connection().info().peer.to_string(),
                  chosen.error().message());
    stream->reset();
    co_return;
  }
  stream->set_protocol(*chosen);
  impl_->stream(*chosen, true);
  Handler handler = handler_for(*chosen);
  try {
    co_await handler(stream);
  } catch (const std::exception& e) {
    spdlog::error("p2p: handler for {} threw: {}", *chosen, e.what());
    stream->reset();
  }
}

asio::awaitable<Result<std::shared_ptr<net::Stream>>> Host::new_stream(PeerId peer,
                                                                       std::vector<std::string> protocols) {
  auto conn = co_await connect(peer);
  if (!conn) co_return tl::unexpected(conn.error());
  auto stream = co_await (*conn)->open_stream_async();
  if (!stream) co_return tl::unexpected(stream.error());
  spdlog::debug("p2p: stream {} to {}: proposing {}", (*stream)->id(), peer.to_string(), protocols.front());
  auto chosen = co_await net::mss_select(**stream, protocols);
  if (!chosen) {
    spdlog::debug("p2p: stream {} to {}: {}", (*stream)->id(), peer.to_string(), chosen.error().message());
    (*stream)->reset();
    co_return make_error(chosen.error().code(), fmt::format("p2p: peer {}: {}", peer.to_string(), chosen.error().message()));
  }
  spdlog::debug("p2p: stream {} to {}: {}", (*stream)->id(), peer.to_string(), *chosen);
  (*stream)->set_protocol(*chosen);
  impl_->stream(*chosen, false);
  co_return *stream;
}

asio::awaitable<void> Host::identify_remote(std::shared_ptr<net::Connection> conn) {
  auto self = shared_from_this();
  const PeerId peer = conn->info().peer;
  auto stream = conn->open_stream();
  if (!stream) co_return;
  auto s = *stream;
  auto deadline = s->reset_after(options_.identify_timeout);
  std::vector<std::string> protos{std::string(identify::kProtocolId)};
  auto chosen = co_await net::mss_select(*s, protos);
  if (!chosen) {
    spdlog::debug("p2p: identify {}: {}", peer.to_string(), chosen.error().message());
    s->reset();
    co_return;
  }
  impl_->stream(*chosen, false);
  s->close_write();
  identify::Info info;
  for (int i = 0; i < 10; ++i) {
    auto msg = co_await net::read_length_prefixed(*s, identify::kMaxMessage);
    if (!msg) {
      spdlog::info("p2p: identify {} failed: {}", peer.to_string(), msg.error().message());
      s->reset();
      co_return;
    }
    if (!*msg) break;
    auto part = identify::decode(**msg);
    if (!part) {
      spdlog::info("p2p: identify {} failed: {}", peer.to_string(), part.error().message());
      s->reset();
      co_return;
    }
    identify::merge(info, std::move(*part));
  }
  deadline.cancel();
  if (!info.public_key.data.empty() && !peer.matches(info.public_key)) {
    spdlog::warn("p2p: identify {}: the public key sent is not the peer's; ignored", peer.to_string());
    co_return;
  }
  peers_.add_addrs(peer, info.listen_addrs);
  peers_.set_identify(peer, info.protocols, info.agent_version, info.protocol_version, info.observed_addr);
  emit(PeerEvent{PeerEvent::Kind::kIdentified, peer, info.agent_version});
}

asio::awaitable<Result<std::chrono::microseconds>> Host::ping(PeerId peer) {
  std::vector<std::string> protocols{std::string(kPingProtocol)};
  auto stream = co_await new_stream(peer, std::move(protocols));
  if (!stream) co_return tl::unexpected(stream.error());
  auto s = *stream;
  std::array<uint8_t, 32> out;
  std::array<uint8_t, 32> in;
  randombytes_buf(out.data(), out.size());
  std::span<const uint8_t> out_span(out);
  std::span<uint8_t> in_span(in);
  auto t0 = std::chrono::steady_clock::now();
  // As js does: the ping and our FIN together; the answer, then the remote's FIN.
  auto st = co_await s->write(out_span);
  if (!st) co_return tl::unexpected(st.error());
  s->close_write();
  st = co_await s->read_exact(in_span);
  if (!st) co_return make_error(st.error().code(), fmt::format("ping {}: {}", peer.to_string(), st.error().message()));
  auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  co_await s->close();
  if (in != out) {
    co_return make_error(ErrorCode::kProtocol, fmt::format("ping {}: the answer differs from what was sent", peer.to_string()));
  }
  peers_.set_latency(peer, rtt);
  impl_->ping_rtt.Observe(std::chrono::duration<double>(rtt).count());
  co_return rtt;
}

}  // namespace bzzz::p2p
