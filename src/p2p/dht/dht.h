// p2p/dht: a libp2p Kademlia DHT (libp2p/specs kad-dht) over a Host, wire-compatible
// with go and js (tested against @libp2p/kad-dht 16).
//
// Owns: the routing table (fed by identify: a peer enters when it lists our protocol,
// i.e. runs in server mode; leaves after failed requests or when it stops listing it),
// the kad protocol handler (server mode only, so identify advertises it only then),
// the RPC client (pooled streams per peer, a timeout per request), iterative lookups
// (alpha requests in flight, ending when the k closest peers seen have answered),
// records with per-namespace validators, provider entries, their store (record_store.h),
// the refresh, republish and purge loops, and the bzzz_dht_* metrics. Depends on
// p2p/host (and p2p/identity, p2p/multiaddr, p2p/proto, base) only, never on node/ or
// services/: the node wires it up (config, API, health).
//
// Wire limits: an inbound request of more than max_message_bytes (64 KiB) resets its
// stream (counted as "too_large"); a response may be up to max_response_bytes (4 MiB,
// as go and js allow). A request that is malformed, of an unknown type, or carries a
// record its namespace's validator rejects resets its stream too, counted in
// bzzz_dht_request_errors_total{reason}; the node goes on serving everything else.
// Reasons, served: malformed, too_large, unknown_type, bad_key (empty, or a provider
// key over 80 bytes), bad_record (none, or not under the message's key),
// invalid_record, outdated_record (worse than the one held), store, stopped; and,
// ignored without a reset as go and js do, provider_not_sender and
// provider_without_addrs. Sent: timeout, unreachable, no_address, busy (our connection
// limit), protocol, response_too_large, stream, invalid_record_received.
//
// Threading: public methods may be called from any thread or coroutine. Each lookup
// and each request runs on a strand of its own; the routing table, the store, the
// validators and the stream pool lock internally. Coroutines take their arguments by
// value. stop() must be called before the last reference goes (the loops hold one).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/status/result.h"
#include "p2p/dht/key_space.h"
#include "p2p/dht/messages.h"
#include "p2p/dht/record_store.h"
#include "p2p/dht/routing_table.h"
#include "p2p/dht/validators.h"
#include "p2p/host/host.h"

namespace prometheus {
class Registry;
}

namespace bzzz::p2p::dht {

inline constexpr std::string_view kBzzzKadProtocol = "/bzzz/kad/1.0.0";
inline constexpr std::string_view kIpfsKadProtocol = "/ipfs/kad/1.0.0";  // the public network's

struct DhtOptions {
  std::string protocol = std::string(kBzzzKadProtocol);
  // Server: serves the protocol (identify lists it) and so enters others' routing
  // tables. Client: asks only.
  bool server_mode = true;
  // Where the record and provider store lives (the node passes <data dir>/dht); "" keeps
  // it in memory.
  std::string data_dir;

  size_t k = 20;               // bucket size, replication, closest peers returned
  size_t alpha = 10;           // requests in flight per lookup
  size_t max_failures = 2;     // failed requests in a row before a peer leaves the table
  size_t get_value_quorum = 16;  // values collected before get_value stops asking
  std::chrono::milliseconds request_timeout{10'000};  // one request: stream, send, answer
  std::chrono::milliseconds lookup_timeout{60'000};   // a whole lookup
  // A peer's inbound stream silent this long between requests is reset (js: 10 s).
  std::chrono::milliseconds inbound_idle_timeout{30'000};
  // Our idle outbound streams are kept for reuse this long (below js's 10 s).
  std::chrono::milliseconds outbound_idle_timeout{5'000};
  size_t max_idle_streams_per_peer = 4;
  size_t max_message_bytes = 64 * 1024;      // one inbound request
  size_t max_response_bytes = 4 << 20;       // one response to us
  size_t max_provider_key_bytes = 80;        // as go: any key (a multihash) up to 80 bytes

  std::chrono::milliseconds refresh_interval{std::chrono::minutes(10)};
  std::chrono::milliseconds refresh_initial_delay{std::chrono::seconds(1)};
  std::chrono::milliseconds republish_interval{std::chrono::hours(22)};  // own records and provides
  std::chrono::milliseconds record_ttl{std::chrono::hours(48)};          // others' records
  std::chrono::milliseconds provider_ttl{std::chrono::hours(48)};        // others' provider entries
  std::chrono::milliseconds purge_interval{std::chrono::hours(1)};
};

struct ProvideOptions {
  // true: our entry is kept (never expires here) and the DHT republishes it every
  // republish_interval while it runs. false: the entry here expires after provider_ttl
  // like anyone's and the republish loop leaves it alone: the caller provides again
  // before then for as long as it holds the content (content/routing does, on its own
  // schedule), so content it dropped stops being announced. An entry kept already
  // stays kept.
  bool keep = true;
};

struct ProviderInfo {
  PeerId id;
  std::vector<Multiaddr> addrs;
};

struct RoutingPeer {
  PeerId id;
  std::vector<Multiaddr> addrs;
  Clock::time_point last_seen{};
  int bucket = 0;
  size_t failures = 0;
};

struct LookupStats {
  std::chrono::microseconds latency{0};
  // Depth in the lookup's discovery tree of the peer that gave the answer (the first
  // batch, from our routing table, is depth 1; a peer learned from a depth-d peer has
  // depth d+1). Without a sought answer (closest_peers), the closest peer's depth.
  int hops = 0;
  size_t queried = 0;
  size_t failed = 0;
  Clock::time_point at{};
};

class Dht : public std::enable_shared_from_this<Dht> {
 public:
  // Runs on the host's loop (Host::io()); `metrics` may be null.
  static std::shared_ptr<Dht> create(Host& host, DhtOptions options, prometheus::Registry* metrics);
  ~Dht();
  Dht(const Dht&) = delete;
  Dht& operator=(const Dht&) = delete;

  // Opens the store, registers the handler (server mode), adds the host's identified
  // servers to the table and starts the loops. Errors: the store cannot be opened.
  Status start();
  // Cancels the loops, closes idle streams and releases the store; later requests to us
  // are reset. Idempotent; the host may go on running.
  void stop();

  // Another record namespace (replaces one of the same name, the built-ins included).
  void add_validator(std::string ns, Validator validator);

  // The k peers closest to `key` that answered (closest first).
  boost::asio::awaitable<Result<std::vector<PeerId>>> closest_peers(Bytes key);
  // The addresses of `peer` (kNotFound when no one knows it).
  boost::asio::awaitable<Result<std::vector<Multiaddr>>> find_peer(PeerId peer);
  // The best valid value of `key` among ours and those of up to get_value_quorum peers
  // (kNotFound when none); peers found holding a worse one are sent the best.
  boost::asio::awaitable<Result<Bytes>> get_value(std::string key);
  // Validates and stores `value` here (republished while the node runs), then sends it
  // to the k closest peers; returns how many accepted it.
  boost::asio::awaitable<Result<size_t>> put_value(std::string key, Bytes value);
  // Records this node as a provider of `key` (a multihash, at most 80 bytes) here and at
  // the k closest peers (republished unless options.keep is false); returns how many
  // were sent it.
  boost::asio::awaitable<Result<size_t>> provide(Bytes key, ProvideOptions options = {});
  // Providers of `key`: ours first, then from a lookup that stops once `limit` are known
  // (0: no limit). An empty list when there are none.
  boost::asio::awaitable<Result<std::vector<ProviderInfo>>> find_providers(Bytes key, size_t limit);
  // A lookup of our own id, then one of a random key in each bucket up to the deepest
  // one holding peers (at most kMaxRefreshCpl). The refresh loop runs it.
  boost::asio::awaitable<Status> refresh();

  // For health checks and GET /v1/dht/peers.
  size_t routing_table_size() const { return rt_.size(); }
  std::vector<RoutingPeer> routing_table() const;
  std::optional<LookupStats> last_lookup() const;
  size_t record_count() const;
  size_t provider_count() const;
  const DhtOptions& options() const { return options_; }
  bool running() const { return started_.load() && !stopped_.load(); }

  struct Metrics;  // dht_internal.h

 private:
  Dht(Host& host, DhtOptions options, prometheus::Registry* metrics);

  // --- dht.cc: lifecycle, events, loops
  enum class Task { kRefresh, kRepublish, kPurge, kSweep };
  void on_event(const PeerEvent& event);
  void add_peer(const PeerId& peer);
  boost::asio::awaitable<void> periodic(std::shared_ptr<Dht> self, std::shared_ptr<boost::asio::steady_timer> timer,
                                        Task task,
                                        std::chrono::milliseconds first, std::chrono::milliseconds every);
  boost::asio::awaitable<void> republish();
  void purge();
  void update_gauges();
  std::shared_ptr<RecordStore> store() const;

  // --- dht_server.cc: the responder
  struct Rejection {
    std::string reason;  // the metric label
  };
  using Answer = tl::expected<std::optional<Message>, Rejection>;
  static boost::asio::awaitable<void> serve(std::weak_ptr<Dht> weak, std::shared_ptr<net::Stream> stream);
  Answer handle(const PeerId& from, Message request);
  std::vector<PeerInfo> closer_peers(const KadId& target, const PeerId& exclude) const;
  PeerInfo self_info() const;

  // --- dht_rpc.cc: the client (call on a strand)
  struct Race;
  boost::asio::awaitable<Result<Message>> rpc(PeerId peer, Message request, bool expect_response);
  boost::asio::awaitable<Result<Message>> exchange(std::shared_ptr<Race> race, PeerId peer, Bytes frame,
                                                   MessageType type, bool expect_response);
  struct Io;
  // On the connection's strand (so the stream's reads and writes need no hop): opens a
  // stream unless given one, sends `frame`, reads the response when one is expected.
  static boost::asio::awaitable<Io> on_connection(std::shared_ptr<Host> host, std::shared_ptr<Race> race,
                                                  std::shared_ptr<net::Stream> stream, PeerId peer,
                                                  std::string protocol, Bytes frame, bool expect_response,
                                                  size_t max_response);
  std::shared_ptr<net::Stream> take_idle(const PeerId& peer);
  void give_back(const PeerId& peer, std::shared_ptr<net::Stream> stream);
  void sweep_idle(bool all);
  // Sends `request` to each of `peers` at once; the count that answered (with an echo
  // of the record for PUT_VALUE) or, without a response expected, that were sent it.
  boost::asio::awaitable<size_t> send_all(std::vector<PeerId> peers, Message request, bool expect_response);
  boost::asio::awaitable<size_t> send_all_here(std::vector<PeerId> peers, Message request, bool expect_response);

  // --- dht_lookup.cc: iterative lookups
  enum class Verdict { kContinue, kFound, kStop };  // kFound: the answer began here
  using OnResponse = std::function<Verdict(const PeerId& from, const Message& response)>;
  struct Outcome {
    std::vector<PeerId> closest;
    LookupStats stats;
  };
  boost::asio::awaitable<Outcome> lookup(Bytes key, MessageType type, OnResponse on_response);
  boost::asio::awaitable<Outcome> lookup_here(Bytes key, MessageType type, OnResponse on_response);
  Status usable() const;
  boost::asio::awaitable<size_t> put_to_closest(std::string key, Bytes value);
  boost::asio::awaitable<size_t> provide_to_closest(Bytes key);

  boost::asio::io_context& io_;
  std::shared_ptr<Host> host_;
  const DhtOptions options_;
  std::unique_ptr<Metrics> metrics_;
  RoutingTable rt_;
  Validators validators_;
  boost::asio::strand<boost::asio::io_context::executor_type> loop_strand_;
  std::vector<std::shared_ptr<boost::asio::steady_timer>> timers_;  // on loop_strand_

  mutable std::mutex mutex_;  // guards the four below
  std::shared_ptr<RecordStore> store_;
  std::optional<LookupStats> last_lookup_;
  struct Idle {
    std::shared_ptr<net::Stream> stream;
    std::chrono::steady_clock::time_point since;
  };
  std::map<PeerId, std::vector<Idle>> idle_;
  std::map<const net::Stream*, std::weak_ptr<net::Stream>> serving_;  // inbound, reset by stop()

  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
};

}  // namespace bzzz::p2p::dht
