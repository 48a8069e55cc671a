// p2p/pubsub: the router's private state, shared by router.cc (peers, streams, the
// public API), router_rpc.cc (what arrives) and heartbeat.cc (what the clock does).
// Everything in Router::Impl is guarded by Impl::mutex unless it says otherwise.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "p2p/pubsub/caches.h"
#include "p2p/pubsub/router.h"
#include "p2p/pubsub/wire.h"

namespace bzzz::p2p::pubsub {

using Clock = std::chrono::steady_clock;
// A wake-up signal any thread may raise (capacity 1: raising it twice wakes once).
using Signal = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;

// What waits to be written on one peer's outbound stream: length-prefixed RPCs,
// concatenated, so the writer sends everything queued in one write. Own mutex.
struct Outbox {
  explicit Outbox(const boost::asio::any_io_executor& ex) : signal(ex, 1) {}
  // False when the queue is over `limit` bytes (the peer does not read: dropped).
  bool push(std::span<const uint8_t> bytes, size_t limit);
  void close();
  std::mutex mutex;
  std::vector<uint8_t> pending;
  bool closed = false;
  Signal signal;
};

class SubscriptionImpl final : public Subscription {
 public:
  SubscriptionImpl(std::weak_ptr<Router> router, std::string topic, size_t capacity,
                   const boost::asio::any_io_executor& ex);
  ~SubscriptionImpl() override;
  boost::asio::awaitable<std::optional<Message>> next() override;
  std::optional<Message> try_next() override;
  const std::string& topic() const override { return topic_; }
  size_t dropped() const override;
  void cancel() override;
  // Router side (any thread).
  void push(const Message& msg);
  void finish();
  bool cancelled() const;

 private:
  std::weak_ptr<Router> router_;
  std::string topic_;
  size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<Message> queue_;
  size_t dropped_ = 0;
  bool done_ = false;
  bool cancelled_ = false;
  Signal signal_;
};

struct PeerState {
  std::shared_ptr<Outbox> outbox;  // our outbound stream's queue; null until it is open
  bool opening = false;            // an outbound stream is being negotiated
  bool outbound_conn = false;      // we dialed the connection (counts toward D_out)
  bool js_ids = false;             // names messages as js-libp2p does (wire.h)
  int inbound_streams = 0;
  std::set<std::string> topics;    // what the peer announced
  // Score inputs, decayed every heartbeat.
  double behaviour_penalty = 0;    // P7: grafts during backoff, broken IWANT promises
  double invalid = 0;              // messages with bad signatures, rejected by validators
  size_t ihaves_this_tick = 0;
  size_t ihave_ids_this_tick = 0;
  std::map<std::string, Clock::time_point> promises;  // ids we asked for with IWANT
};

struct Metrics {
  explicit Metrics(prometheus::Registry* registry);
  std::shared_ptr<prometheus::Registry> own;
  prometheus::Registry& reg;
  prometheus::Family<prometheus::Counter>& messages;   // {topic, event}
  prometheus::Family<prometheus::Counter>& rejected;   // {topic, reason}
  prometheus::Family<prometheus::Counter>& ignored;    // {topic, reason}
  prometheus::Family<prometheus::Counter>& rpc_errors; // {reason}
  prometheus::Family<prometheus::Counter>& control;    // {type, direction}
  prometheus::Family<prometheus::Gauge>& mesh_peers;   // {topic}
  prometheus::Family<prometheus::Gauge>& topic_peers;  // {topic}
  prometheus::Gauge& peers;
};

struct Router::Impl {
  Impl(Router& router, Host& host, Options options, prometheus::Registry* registry);

  // --- router.cc: peers and streams ---
  void on_host_event(const PeerEvent& event);
  void ensure_outbound(const PeerId& peer);                            // mutex held
  void remove_peer(const PeerId& peer);                                // mutex held
  boost::asio::awaitable<void> open_outbound(PeerId peer);
  boost::asio::awaitable<void> read_loop(std::shared_ptr<net::Stream> stream);
  void send(const PeerId& peer, const pb::RPC& rpc);                   // mutex held
  void send_bytes(const PeerId& peer, std::span<const uint8_t> rpc);   // mutex held
  void deliver(const Message& msg);                                    // mutex held
  bool subscribed(const std::string& topic) const { return mesh.count(topic) != 0; }
  void join(const std::string& topic);                                 // mutex held
  void leave(const std::string& topic);                                // mutex held
  void prune_subscriptions(const std::string& topic);

  // --- router_rpc.cc: what peers send ---
  void handle_rpc(const PeerId& peer, std::span<const uint8_t> bytes);  // mutex held
  void on_message(const PeerId& peer, PeerState& ps, const pb::Message& msg);
  void forward(const pb::Message& msg, const std::string& topic, const PeerId& source, const PeerId& publisher);
  void on_ihave(const PeerId& peer, PeerState& ps, const pb::ControlIHave& ihave, pb::ControlMessage& reply);
  void on_iwant(const PeerId& peer, const pb::ControlIWant& iwant, pb::RPC& reply);
  void on_graft(const PeerId& peer, PeerState& ps, const std::string& topic, pb::ControlMessage& reply);
  void on_prune(const PeerId& peer, const pb::ControlPrune& prune);
  void add_prune(pb::ControlMessage& control, const PeerId& peer, const std::string& topic,
                 std::chrono::milliseconds backoff);
  double score(const PeerState& ps) const;
  bool in_backoff(const std::string& topic, const PeerId& peer, std::chrono::milliseconds slack) const;

  // --- heartbeat.cc ---
  boost::asio::awaitable<void> heartbeat_loop();
  void heartbeat();  // mutex held
  // Peers of `topic` that could join a mesh: an open outbound stream, no backoff, a
  // score of at least `min_score`, not in `exclude`.
  std::vector<PeerId> candidates(const std::string& topic, const std::set<PeerId>& exclude, double min_score);

  std::string topic_label(const std::string& topic);  // bounded metric label
  void count(const std::string& topic, const char* event);
  void rpc_error(const std::string& reason) { metrics.rpc_errors.Add({{"reason", reason}}).Increment(); }

  Router& router;
  Host& host;
  Options opt;
  Metrics metrics;

  mutable std::mutex mutex;
  bool started = false;
  bool stopped = false;
  std::map<PeerId, PeerState> peers;
  std::map<std::string, std::set<PeerId>> topic_peers;
  std::map<std::string, std::set<PeerId>> mesh;      // one entry per subscribed topic
  std::map<std::string, std::set<PeerId>> fanout;    // topics we publish to, unsubscribed
  std::map<std::string, Clock::time_point> fanout_last;
  std::map<std::string, std::map<PeerId, Clock::time_point>> backoff;
  std::map<std::string, std::vector<std::weak_ptr<SubscriptionImpl>>> subs;
  std::map<std::string, Validator> validators;
  std::set<std::string> labels;
  std::set<std::string> local_topics;
  SeenCache seen;
  MessageCache mcache;
  uint64_t seqno;
  uint64_t ticks = 0;
  std::mt19937_64 rng;
  std::shared_ptr<boost::asio::steady_timer> heartbeat_timer;
};

}  // namespace bzzz::p2p::pubsub
