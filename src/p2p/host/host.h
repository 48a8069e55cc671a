// p2p/host: a libp2p host: the listeners, the dialer, the protocol registry, the
// connection manager and the two protocols every peer runs (identify, ping).
//
// Owns: listening on TCP multiaddrs (0.0.0.0 / :: are announced as each interface's
// address), dialing (dns resolved, dial timeout, one connection per peer: concurrent
// dials to a peer share one attempt, and of two connections to one peer both sides
// keep the one the lower peer id dialed), limits (total connections, connections per
// remote IP with loopback exempt), bootstrap peers kept connected with exponential
// backoff, the peer store, connect/disconnect/identify events, and metrics. Inbound
// streams are negotiated against the registry and given to the handler of their
// protocol; later modules (pubsub, dht, exchange) add handlers with handle().
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/status/result.h"
#include "p2p/host/peer_store.h"
#include "p2p/identity/keys.h"
#include "p2p/identity/peer_id.h"
#include "p2p/multiaddr/multiaddr.h"
#include "p2p/net/connection.h"

namespace prometheus {
class Registry;
}

namespace bzzz::p2p {

inline constexpr std::string_view kPingProtocol = "/ipfs/ping/1.0.0";

struct HostOptions {
  std::vector<Multiaddr> listen;
  std::vector<Multiaddr> announce;   // when set, identify lists these instead of listen's
  std::vector<Multiaddr> bootstrap;  // kept connected (a /p2p/ id is checked when present)
  size_t max_connections = 50;
  size_t max_connections_per_ip = 3;  // loopback addresses are exempt
  std::chrono::milliseconds dial_timeout{10'000};
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds backoff_initial{1'000};
  std::chrono::milliseconds backoff_max{60'000};
  std::chrono::milliseconds identify_timeout{10'000};
  std::string agent_version = "bzzz";
  net::ConnectionOptions connection;
};

struct PeerEvent {
  enum class Kind { kConnected, kDisconnected, kIdentified };
  Kind kind;
  PeerId peer;
  std::string detail;  // the reason of a disconnect
};

class Host : public std::enable_shared_from_this<Host> {
 public:
  // A handler owns its stream; it runs on the stream's connection strand. Returning
  // releases the stream (reset if not closed both ways).
  using Handler = std::function<boost::asio::awaitable<void>(std::shared_ptr<net::Stream>)>;
  using EventHandler = std::function<void(const PeerEvent&)>;

  static std::shared_ptr<Host> create(boost::asio::io_context& io, PrivateKey identity, HostOptions options,
                                      prometheus::Registry* metrics);
  ~Host();

  // Binds every listen address (errors name the address), starts accepting and the
  // bootstrap loops. identify and ping are registered already.
  Status start();
  // Stops listening and dialing and closes every connection with GoAway. Any thread.
  void stop();
  // Whether every connection is gone (for a shutdown that waits).
  bool idle() const { return connection_count() == 0; }

  // The protocol registry. Handlers may be added before or after start().
  void handle(std::string protocol, Handler handler);
  std::vector<std::string> protocols() const;

  const PeerId& id() const { return id_; }
  // The loop the host runs on (modules above it run their own coroutines there).
  boost::asio::io_context& io() const { return io_; }
  // Signs with the host's identity key (pubsub messages, DHT records).
  const PrivateKey& identity() const { return identity_; }
  const PublicKey& public_key() const { return identity_.public_key(); }
  // Bound listen addresses (ports resolved), and what identify announces.
  std::vector<Multiaddr> listen_addrs() const;
  std::vector<Multiaddr> announced_addrs() const;

  // (Coroutines take their arguments by value: a caller's temporaries may be gone
  // before they finish.)
  // Dials `addr` (with or without /p2p/); returns the existing connection when the
  // peer is connected already. Errors: limit reached (kBusy), unreachable, timeout,
  // handshake failures, a peer id other than the one in the address.
  boost::asio::awaitable<Result<std::shared_ptr<net::Connection>>> connect(Multiaddr addr);
  // A connection to `peer`: the open one, else a dial of the addresses in the store.
  boost::asio::awaitable<Result<std::shared_ptr<net::Connection>>> connect(PeerId peer);
  // A new stream to `peer` speaking the first of `protocols` the peer accepts.
  boost::asio::awaitable<Result<std::shared_ptr<net::Stream>>> new_stream(PeerId peer,
                                                                          std::vector<std::string> protocols);
  // One /ipfs/ping/1.0.0 round trip (also recorded in the peer store and metrics).
  boost::asio::awaitable<Result<std::chrono::microseconds>> ping(PeerId peer);
  // Closes every connection to `peer` (GoAway); false when there was none.
  bool disconnect(PeerId peer);

  std::shared_ptr<net::Connection> connection(const PeerId& peer) const;
  std::vector<std::shared_ptr<net::Connection>> connections() const;
  size_t connection_count() const;
  PeerStore& peer_store() { return peers_; }
  const PeerStore& peer_store() const { return peers_; }

  // Called from connection strands; must not block.
  void subscribe(EventHandler handler);

  struct Impl;  // metrics and the rest of the private state (host.cc)

 private:
  Host(boost::asio::io_context& io, PrivateKey identity, HostOptions options, prometheus::Registry* metrics);

  boost::asio::awaitable<void> accept_loop(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor);
  boost::asio::awaitable<void> bootstrap_loop(Multiaddr addr);
  boost::asio::awaitable<Result<std::shared_ptr<net::Connection>>> dial(Multiaddr addr,
                                                                        std::optional<PeerId> expected);
  boost::asio::awaitable<void> identify_remote(std::shared_ptr<net::Connection> conn);
  boost::asio::awaitable<void> serve_stream(std::shared_ptr<net::Stream> stream);
  void run_upgrade(boost::asio::ip::tcp::socket socket);
  void count_handshake(const boost::asio::ip::address& remote, int delta);
  // Adds a new connection (or closes it as a duplicate); returns the one to use.
  std::shared_ptr<net::Connection> adopt(std::shared_ptr<net::Connection> conn);
  void on_closed(net::Connection& conn, const Error& reason);
  void emit(const PeerEvent& event);
  bool over_limits(const boost::asio::ip::address& remote, std::string& why) const;
  Handler handler_for(std::string_view protocol) const;

  boost::asio::io_context& io_;
  PrivateKey identity_;
  PeerId id_;
  HostOptions options_;
  std::unique_ptr<Impl> impl_;
  PeerStore peers_;

  mutable std::mutex mutex_;  // guards everything below
  std::map<std::string, Handler, std::less<>> handlers_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::vector<Multiaddr> bound_;
  std::multimap<PeerId, std::shared_ptr<net::Connection>> conns_;
  std::map<PeerId, int> dialing_;
  std::vector<EventHandler> subscribers_;
  std::atomic<bool> stopped_{false};
};

// Every address of this machine's up interfaces, for announcing an unspecified
// listen address (0.0.0.0 -> IPv4 ones, :: -> IPv6 ones).
std::vector<boost::asio::ip::address> interface_addresses(bool v6);

}  // namespace bzzz::p2p
