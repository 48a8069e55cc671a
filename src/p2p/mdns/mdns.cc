#include "p2p/mdns/mdns.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

namespace bzzz::p2p::mdns {

namespace asio = boost::asio;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// RFC 6762 §6: a record is multicast at most once per second.
constexpr auto kMinResponseGap = 1s;
constexpr auto kMinUnicastGap = 100ms;
// A peer not heard of for this long is new again when it comes back (and its dial
// state is dropped).
constexpr auto kForgetAfter = 10min;
constexpr size_t kMaxTrackedPeers = 1024;

struct Interface {
  unsigned index;
  std::string name;
  asio::ip::address_v4 addr;
};

// The up, running, multicast-capable IPv4 interfaces (one entry per interface), and
// every local IPv4 address (to tell our machine's packets from others').
std::vector<Interface> scan_interfaces(std::set<asio::ip::address_v4>& local) {
  std::vector<Interface> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    asio::ip::address_v4 addr(ntohl(sin->sin_addr.s_addr));
    local.insert(addr);
    unsigned want = IFF_UP | IFF_RUNNING | IFF_MULTICAST;
    if ((i->ifa_flags & want) != want) continue;
    unsigned index = if_nametoindex(i->ifa_name);
    if (index == 0) continue;
    bool known = std::any_of(out.begin(), out.end(), [&](const Interface& x) { return x.index == index; });
    if (!known) out.push_back({index, i->ifa_name, addr});
  }
  freeifaddrs(list);
  return out;
}

std::string join_addrs(const std::vector<Multiaddr>& addrs) {
  std::string out;
  for (const auto& a : addrs) out += (out.empty() ? "" : ", ") + a.to_string();
  return out;
}

}  // namespace

struct Service::Impl {
  Impl(asio::io_context& io, prometheus::Registry* registry)
      : strand(asio::make_strand(io)),
        socket(strand),
        query_timer(strand),
        response_timer(strand),
        own(registry ? nullptr : std::make_shared<prometheus::Registry>()),
        reg(registry ? *registry : *own),
        queries(prometheus::BuildCounter().Name("bzzz_mdns_queries_total").Help("mDNS queries for _p2p._udp.local, sent (out) and heard (in)").Register(reg)),
        queries_in(queries.Add({{"direction", "in"}})),
        queries_out(queries.Add({{"direction", "out"}})),
        responses(prometheus::BuildCounter().Name("bzzz_mdns_responses_total").Help("mDNS responses announcing a libp2p peer, sent (out) and heard from others (in)").Register(reg)),
        responses_in(responses.Add({{"direction", "in"}})),
        responses_out(responses.Add({{"direction", "out"}})),
        discovered(prometheus::BuildCounter().Name("bzzz_mdns_peers_discovered_total").Help("Peers found by mDNS (first heard, or again after 10 minutes of silence)").Register(reg).Add({})),
        errors(prometheus::BuildCounter().Name("bzzz_mdns_errors_total").Help("mDNS failures by reason: malformed, bad_record, send, receive, join, dial, encode").Register(reg)) {}

  void error(const char* reason) { errors.Add({{"reason", reason}}).Increment(); }

  // All below on `strand`.
  net::Strand strand;
  udp::socket socket;
  asio::steady_timer query_timer;
  asio::steady_timer response_timer;
  asio::ip::address_v4 group;
  std::map<unsigned, Interface> joined;  // by interface index
  std::set<asio::ip::address_v4> local_addrs;
  Clock::time_point last_response{};
  Clock::time_point last_unicast{};
  bool response_pending = false;
  bool warned_send = false;
  bool warned_no_addrs = false;
  struct PeerState {
    Clock::time_point last_seen{};
    Clock::time_point next_dial{};
    std::chrono::milliseconds backoff{0};
    int failures = 0;
    bool dialing = false;
  };
  std::map<PeerId, PeerState> peers;
  size_t dials_in_flight = 0;

  std::shared_ptr<prometheus::Registry> own;
  prometheus::Registry& reg;
  prometheus::Family<prometheus::Counter>& queries;
  prometheus::Counter& queries_in;
  prometheus::Counter& queries_out;
  prometheus::Family<prometheus::Counter>& responses;
  prometheus::Counter& responses_in;
  prometheus::Counter& responses_out;
  prometheus::Counter& discovered;
  prometheus::Family<prometheus::Counter>& errors;

  // --- on the strand ---------------------------------------------------------------

  // Joins the group on interfaces that came up; forgets those that went away.
  static void refresh_interfaces(Service& s) {
    auto& impl = *s.impl_;
    std::set<asio::ip::address_v4> local;
    auto now = scan_interfaces(local);
    impl.local_addrs = std::move(local);
    std::map<unsigned, Interface> next;
    for (auto& i : now) {
      if (impl.joined.count(i.index) == 0) {
        ip_mreqn req{};
        req.imr_multiaddr.s_addr = htonl(impl.group.to_uint());
        req.imr_ifindex = static_cast<int>(i.index);
        int err = setsockopt(impl.socket.native_handle(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, sizeof req) == 0 ? 0 : errno;
        if (err != 0 && err != EADDRINUSE) {  // EADDRINUSE: a member already
          impl.error("join");
          spdlog::warn("mdns: cannot join {} on {} ({}): {}", impl.group.to_string(), i.name, i.addr.to_string(),
                       std::strerror(err));
          continue;
        }
        spdlog::debug("mdns: joined {} on {} ({})", impl.group.to_string(), i.name, i.addr.to_string());
      }
      next.emplace(i.index, std::move(i));
    }
    impl.joined = std::move(next);
    s.interfaces_ = impl.joined.size();
  }

  // Sends to `to`, or to the group out of every joined interface; how many went out.
  static size_t send(Service& s, std::span<const uint8_t> bytes, std::optional<udp::endpoint> to) {
    auto& impl = *s.impl_;
    size_t sent = 0;
    auto one = [&](const udp::endpoint& dest, const std::string& via) {
      boost::system::error_code ec;
      impl.socket.send_to(asio::buffer(bytes.data(), bytes.size()), dest, 0, ec);  // non-blocking
      if (!ec) {
        ++sent;
        return;
      }
      impl.error("send");
      if (!impl.warned_send) {
        impl.warned_send = true;
        spdlog::warn("mdns: cannot send to {}{}: {} (further failures are logged at debug level)",
                     dest.address().to_string(), via, ec.message());
      } else {
        spdlog::debug("mdns: cannot send to {}{}: {}", dest.address().to_string(), via, ec.message());
      }
    };
    if (to) {
      one(*to, "");
      return sent;
    }
    udp::endpoint dest(impl.group, s.options_.port);
    for (const auto& [index, i] : impl.joined) {
      ip_mreqn req{};
      req.imr_ifindex = static_cast<int>(index);
      if (setsockopt(impl.socket.native_handle(), IPPROTO_IP, IP_MULTICAST_IF, &req, sizeof req) != 0) {
        int err = errno;
        impl.error("send");
        spdlog::debug("mdns: cannot select interface {}: {}", i.name, std::strerror(err));
        continue;
      }
      one(dest, " via " + i.name);
    }
    return sent;
  }

  static void send_query(Service& s) {
    auto query = build_query();
    if (send(s, query, std::nullopt) > 0) s.impl_->queries_out.Increment();
  }

  static void send_response(Service& s, std::optional<udp::endpoint> to, uint16_t id) {
    auto& impl = *s.impl_;
    auto addrs = advertised_addrs(s.host_->announced_addrs(), s.host_->id());
    if (addrs.empty()) {
      if (!impl.warned_no_addrs) {
        impl.warned_no_addrs = true;
        spdlog::info("mdns: no loopback, private or link-local address to advertise (announced: {}); queries go "
                     "unanswered",
                     join_addrs(s.host_->announced_addrs()));
      }
      return;
    }
    auto bytes = build_response(s.name_, addrs, id, to.has_value());
    if (!bytes) {
      impl.error("encode");
      spdlog::warn("mdns: cannot build our response: {}", bytes.error().message());
      return;
    }
    if (!to) impl.last_response = Clock::now();
    if (send(s, *bytes, to) > 0) impl.responses_out.Increment();
  }

  static void schedule_response(const std::shared_ptr<Service>& self) {
    auto& impl = *self->impl_;
    if (impl.response_pending) return;
    auto due = impl.last_response + kMinResponseGap;
    if (Clock::now() >= due) {
      send_response(*self, std::nullopt, 0);
      return;
    }
    impl.response_pending = true;
    impl.response_timer.expires_at(due);
    impl.response_timer.async_wait([self](boost::system::error_code ec) {
      self->impl_->response_pending = false;
      if (!ec && !self->stopped_) send_response(*self, std::nullopt, 0);
    });
  }

  static void handle_packet(const std::shared_ptr<Service>& self, std::span<const uint8_t> bytes,
                            const udp::endpoint& sender) {
    auto& impl = *self->impl_;
    auto msg = dns::parse(bytes);
    if (!msg) {
      impl.error("malformed");
      spdlog::debug("mdns: ignoring a malformed packet from {}: {}", sender.address().to_string(),
                    msg.error().message());
      return;
    }
    if (!msg->is_response()) {
      if (!is_service_query(*msg)) return;  // other mDNS traffic on the LAN
      impl.queries_in.Increment();
      if (sender.port() != self->options_.port) {
        // A one-shot query (RFC 6762 §6.7): answered to its sender alone, at once; but
        // at most ten a second, so spoofed queries cannot make us a traffic amplifier.
        auto now = Clock::now();
        if (now - impl.last_unicast < kMinUnicastGap) return;
        impl.last_unicast = now;
        send_response(*self, sender, msg->id);
      } else {
        schedule_response(self);
      }
      return;
    }
    auto content = peers_in_response(*msg, self->name_);
    if (content.peers.empty() && content.problems.empty()) return;  // ours, or another service's
    impl.responses_in.Increment();
    for (const auto& p : content.problems) {
      impl.error("bad_record");
      spdlog::debug("mdns: response from {}: {}", sender.address().to_string(), p);
    }
    auto ip = sender.address();
    bool local = ip.is_loopback() || (ip.is_v4() && impl.local_addrs.count(ip.to_v4()) > 0);
    for (const auto& peer : content.peers) found(self, peer, ip, local);
  }

  static void found(const std::shared_ptr<Service>& self, const FoundPeer& announced, const asio::ip::address& sender,
                    bool sender_is_local) {
    auto& impl = *self->impl_;
    if (announced.id == self->host_->id()) return;  // our id under another name: a stale instance of us
    FoundPeer peer{announced.id, announced.name, dialable_addrs(announced.addrs, sender, sender_is_local)};
    if (peer.addrs.empty()) {
      spdlog::debug("mdns: peer {} (from {}) announced no address we can dial: {}", peer.id.to_string(),
                    sender.to_string(), join_addrs(announced.addrs));
      return;
    }
    auto now = Clock::now();
    auto it = impl.peers.find(peer.id);
    if (it == impl.peers.end()) {
      if (impl.peers.size() >= kMaxTrackedPeers) return;
      it = impl.peers.emplace(peer.id, PeerState{}).first;
      it->second.last_seen = now - kForgetAfter - 1s;
    }
    auto& st = it->second;
    if (now - st.last_seen > kForgetAfter) {
      impl.discovered.Increment();
      spdlog::info("mdns: found peer {} at {}", peer.id.to_string(), join_addrs(peer.addrs));
    }
    st.last_seen = now;
    self->host_->peer_store().add_addrs(peer.id, peer.addrs);
    {
      std::lock_guard lock(self->handler_mu_);
      if (self->found_handler_ && !self->stopped_) self->found_handler_(peer);
    }

    if (!self->options_.connect || self->stopped_ || st.dialing || now < st.next_dial) return;
    if (self->host_->connection(peer.id)) return;
    if (impl.dials_in_flight >= self->options_.max_dials_in_flight) return;  // a later response will do
    st.dialing = true;
    ++impl.dials_in_flight;
    asio::co_spawn(impl.strand, dial(self, peer.id, peer.addrs), asio::detached);
  }

  // Spawned on the strand: every await below resumes there.
  static asio::awaitable<void> dial(std::shared_ptr<Service> self, PeerId peer, std::vector<Multiaddr> addrs) {
    auto& impl = *self->impl_;
    std::optional<Error> last;
    bool connected = false;
    for (const auto& a : addrs) {
      if (self->stopped_) break;
      Multiaddr target = a.with_peer_id(peer);  // a named local: no temporaries inside co_await (g++ 12)
      auto conn = co_await self->host_->connect(target);
      if (conn) {
        connected = true;
        break;
      }
      last = conn.error();
      if (last->code() == ErrorCode::kBusy) break;  // the host's limits: the other addresses would fail too
    }
    --impl.dials_in_flight;
    auto it = impl.peers.find(peer);
    if (it == impl.peers.end()) co_return;
    auto& st = it->second;
    st.dialing = false;
    auto now = Clock::now();
    if (connected) {
      spdlog::info("mdns: connected to peer {}", peer.to_string());
      st.failures = 0;
      st.backoff = self->options_.dial_backoff_initial;
      st.next_dial = now + st.backoff;  // a connection the peer drops at once is not redialed at once
    } else if (last) {
      impl.error("dial");
      st.backoff = st.failures++ == 0 ? self->options_.dial_backoff_initial
                                      : std::min(st.backoff * 2, self->options_.dial_backoff_max);
      st.next_dial = now + st.backoff;
      if (st.failures == 1) {
        spdlog::info("mdns: cannot connect to peer {}: {} (retrying with backoff)", peer.to_string(), last->message());
      } else {
        spdlog::debug("mdns: cannot connect to peer {}: {}; next try in {} ms", peer.to_string(), last->message(),
                      st.backoff.count());
      }
    }
  }

  static asio::awaitable<void> receive_loop(std::shared_ptr<Service> self) {
    auto& impl = *self->impl_;
    std::vector<uint8_t> buf(dns::kMaxMessageSize + 1);  // one byte more: an oversized packet fails parse()
    udp::endpoint sender;
    auto buffer = asio::buffer(buf);
    while (!self->stopped_) {
      auto [ec, n] = co_await impl.socket.async_receive_from(buffer, sender, kTuple);
      if (self->stopped_ || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
      if (ec) {
        // ICMP errors from earlier unicast sends show up here: not fatal.
        impl.error("receive");
        spdlog::debug("mdns: receive: {}", ec.message());
        asio::steady_timer pause(impl.strand, 100ms);  // whatever it is, do not spin on it
        co_await pause.async_wait(kTuple);
        continue;
      }
      handle_packet(self, std::span<const uint8_t>(buf.data(), n), sender);
    }
  }

  static asio::awaitable<void> query_loop(std::shared_ptr<Service> self) {
    auto& impl = *self->impl_;
    while (!self->stopped_) {
      refresh_interfaces(*self);
      send_query(*self);
      auto now = Clock::now();
      std::erase_if(impl.peers, [&](const auto& kv) { return !kv.second.dialing && now - kv.second.last_seen > kForgetAfter; });
      impl.query_timer.expires_after(self->options_.interval);
      co_await impl.query_timer.async_wait(kTuple);
    }
  }
};

std::shared_ptr<Service> Service::create(std::shared_ptr<Host> host, Options options, prometheus::Registry* metrics) {
  return std::shared_ptr<Service>(new Service(std::move(host), std::move(options), metrics));
}

Service::Service(std::shared_ptr<Host> host, Options options, prometheus::Registry* metrics)
    : host_(std::move(host)),
      options_(std::move(options)),
      name_(options_.peer_name.empty() ? random_peer_name() : options_.peer_name),
      impl_(std::make_unique<Impl>(host_->io(), metrics)) {}

Service::~Service() = default;

Status Service::start() {
  if (started_.exchange(true)) return make_error(ErrorCode::kInvalidArgument, "mdns: already started");
  if (options_.interval.count() <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "mdns: the query interval must be positive");
  }
  auto& impl = *impl_;
  boost::system::error_code ec;
  impl.group = asio::ip::make_address_v4(options_.group, ec);
  if (ec || !impl.group.is_multicast()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("mdns: {} is not an IPv4 multicast group", quoted(options_.group)));
  }
  udp::endpoint local(asio::ip::address_v4::any(), options_.port);
  auto failed = [&](std::string_view step, const std::string& why) {
    boost::system::error_code ignored;
    impl.socket.close(ignored);
    return make_error(ErrorCode::kIo, fmt::format("mdns: cannot set up UDP {}:{} ({}): {}", local.address().to_string(),
                                                  local.port(), step, why));
  };
  impl.socket.open(udp::v4(), ec);
  if (ec) return failed("open", ec.message());
  impl.socket.set_option(udp::socket::reuse_address(true), ec);
  if (ec) return failed("SO_REUSEADDR", ec.message());
  int one = 1;
  if (setsockopt(impl.socket.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return failed("SO_REUSEPORT", std::strerror(errno));
  }
  impl.socket.bind(local, ec);
  if (ec) {
    return failed("bind", ec == asio::error::address_in_use
                              ? ec.message() + " (a responder that does not share the port holds it)"
                              : ec.message());
  }
  impl.socket.set_option(asio::ip::multicast::enable_loopback(true), ec);  // peers on this machine hear us
  if (ec) return failed("IP_MULTICAST_LOOP", ec.message());
  impl.socket.set_option(asio::ip::multicast::hops(255), ec);  // RFC 6762 §11
  if (ec) return failed("IP_MULTICAST_TTL", ec.message());
  impl.socket.non_blocking(true, ec);  // sends happen inline on the strand and must never wait
  if (ec) return failed("O_NONBLOCK", ec.message());

  auto self = shared_from_this();
  asio::dispatch(impl.strand, [self] {
    if (self->stopped_) return;
    Impl::refresh_interfaces(*self);
    if (self->impl_->joined.empty()) {
      spdlog::warn("mdns: no up, multicast-capable IPv4 interface yet; rescanning every {} ms",
                   self->options_.interval.count());
    }
    spdlog::info("mdns: discovering peers on {}:{} as {}.{} ({} interfaces, query every {} ms)",
                 self->impl_->group.to_string(), self->options_.port, self->name_, kServiceName,
                 self->impl_->joined.size(), self->options_.interval.count());
    asio::co_spawn(self->impl_->strand, Impl::receive_loop(self), asio::detached);
    asio::co_spawn(self->impl_->strand, Impl::query_loop(self), asio::detached);
  });
  return ok();
}

void Service::stop() {
  {
    std::lock_guard lock(handler_mu_);  // a handler call under way ends first
    if (stopped_.exchange(true)) return;
  }
  asio::dispatch(impl_->strand, [self = shared_from_this()] {
    auto& impl = *self->impl_;
    boost::system::error_code ignored;
    impl.socket.close(ignored);
    impl.query_timer.cancel();
    impl.response_timer.cancel();
  });
}

}  // namespace bzzz::p2p::mdns
