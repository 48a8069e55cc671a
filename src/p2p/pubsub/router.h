// p2p/pubsub: gossipsub v1.1 (/meshsub/1.1.0, also 1.0.0; 1.2.0 advertised and its
// IDONTWANT parsed and ignored) over a Host, wire-compatible with js-libp2p.
//
// Owns: one outbound stream per peer that speaks meshsub (we write only there) and the
// peer's inbound stream (we read only there); subscriptions and the topic peers they
// announce; StrictSign signing and verification; the seen cache and the message cache;
// the heartbeat (mesh maintenance with D/D_lo/D_hi/D_out, fanout, IHAVE gossip);
// IHAVE/IWANT with caps; GRAFT/PRUNE with backoff honoured both ways; per-topic
// validators; a behaviour-penalty score; metrics. Depends on p2p/host only.
//
// Threading: the router's state sits behind one mutex; stream readers run on their
// connection strands, writers on theirs, the heartbeat on its own strand. Validators
// and subscription queues are called with the mutex held: they must be quick and must
// not call back into the router.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "base/status/result.h"
#include "p2p/host/host.h"
#include "p2p/identity/peer_id.h"

namespace prometheus {
class Registry;
}

namespace bzzz::p2p::pubsub {

inline constexpr std::string_view kMeshsub12 = "/meshsub/1.2.0";
inline constexpr std::string_view kMeshsub11 = "/meshsub/1.1.0";
inline constexpr std::string_view kMeshsub10 = "/meshsub/1.0.0";

struct Message {
  PeerId from;           // the publisher (verified by its signature)
  PeerId received_from;  // the peer that passed it to us (our own id for local publishes)
  std::string topic;
  std::vector<uint8_t> data;
  uint64_t seqno = 0;
  std::string id;        // from bytes || seqno bytes (the spec's default message id)
  bool local = false;    // published by this node
};

enum class Verdict {
  kAccept,  // deliver and forward
  kReject,  // drop, and the peer that sent it is penalised
  kIgnore,  // drop silently
};
struct Validation {
  Verdict verdict = Verdict::kAccept;
  std::string reason;  // a short label counted in bzzz_pubsub_rejected_total{reason}
  static Validation accept() { return {}; }
  static Validation reject(std::string why) { return {Verdict::kReject, std::move(why)}; }
  static Validation ignore(std::string why) { return {Verdict::kIgnore, std::move(why)}; }
};
using Validator = std::function<Validation(const Message&)>;

struct Options {
  // Mesh degree (spec and js defaults).
  size_t d = 6, d_lo = 4, d_hi = 12, d_lazy = 6, d_out = 2, d_score = 4;
  std::chrono::milliseconds heartbeat_interval{1'000};
  std::chrono::milliseconds heartbeat_initial_delay{100};
  std::chrono::milliseconds fanout_ttl{60'000};
  size_t mcache_len = 5, mcache_gossip = 3;
  std::chrono::milliseconds seen_ttl{120'000};
  std::chrono::milliseconds prune_backoff{60'000};
  std::chrono::milliseconds unsubscribe_backoff{10'000};
  std::chrono::milliseconds graft_flood_threshold{10'000};
  std::chrono::milliseconds iwant_followup{3'000};
  size_t max_ihave_length = 5000;   // message ids per IHAVE we send or accept per heartbeat
  size_t max_ihave_messages = 10;   // IHAVE RPCs accepted from a peer per heartbeat
  double gossip_factor = 0.25;
  size_t opportunistic_graft_ticks = 60;
  size_t max_message_size = 1 << 20;  // data bytes of one message
  size_t max_rpc_size = 4 << 20;      // one length-prefixed RPC (js reads up to 4 MiB)
  size_t max_topics_per_rpc = 1000;   // subscriptions in one RPC
  bool flood_publish = true;          // our own messages go to every topic peer
  // Behaviour penalty (P7): graft during backoff, broken IWANT promises. A peer whose
  // score falls below graylist_threshold has its RPCs ignored; below gossip_threshold
  // it gets no gossip and is not grafted.
  double behaviour_penalty_weight = -10.0;
  double behaviour_penalty_threshold = 6.0;
  double behaviour_penalty_decay = 0.9;  // per heartbeat
  double gossip_threshold = -10, publish_threshold = -50, graylist_threshold = -80;
  size_t subscription_queue = 1024;  // messages waiting for a slow subscriber (then dropped)
};

// What a subscriber reads. Messages wait in a bounded queue; when it is full the oldest
// is dropped and counted.
class Subscription {
 public:
  virtual ~Subscription() = default;
  // The next message; nullopt once cancelled or the router stopped.
  virtual boost::asio::awaitable<std::optional<Message>> next() = 0;
  // Non-blocking: the next queued message, if any.
  virtual std::optional<Message> try_next() = 0;
  virtual const std::string& topic() const = 0;
  virtual size_t dropped() const = 0;
  // Leaves the topic when this was its last subscription. Also done on destruction.
  virtual void cancel() = 0;
};

struct TopicInfo {
  std::string topic;
  bool subscribed = false;
  std::vector<PeerId> peers;  // peers that announced the topic
  std::vector<PeerId> mesh;   // our mesh (or fanout) peers for it
};

class Router : public std::enable_shared_from_this<Router> {
 public:
  static std::shared_ptr<Router> create(Host& host, Options options, prometheus::Registry* metrics);
  ~Router();

  // Registers the meshsub protocols with the host and starts the heartbeat.
  void start();
  // Ends subscriptions, stops the heartbeat and closes the outbound streams.
  void stop();

  // Joins `topic` (announces it, grafts up to D peers); every subscription of a topic
  // gets every message once.
  std::shared_ptr<Subscription> subscribe(std::string topic);
  // A topic of this node alone: never announced, meshed or sent to peers (and what
  // peers send on it is ignored); publish() on it delivers to its local subscribers.
  // The health check's loopback probe uses one. Not listed by topics(); counted in
  // metrics under topic "local".
  std::shared_ptr<Subscription> subscribe_local(std::string topic);
  // Signs and sends `data` on `topic`: to every topic peer (flood publish), else to the
  // mesh or fanout. Delivered to local subscribers too (Message::local). Returns the
  // message id. Errors: too large (kInvalidArgument), router stopped (kUnavailable).
  // Having no peer is not an error (the count of peers reached is in `reached`).
  struct Published {
    std::string id;
    size_t reached = 0;
  };
  Result<Published> publish(std::string topic, std::vector<uint8_t> data);
  // One validator per topic (a new one replaces the old); runs before delivery and
  // forwarding, for remote and local messages alike.
  void set_validator(std::string topic, Validator validator);

  std::vector<TopicInfo> topics() const;
  // Peers with a meshsub stream to us.
  std::vector<PeerId> peers() const;
  double score(const PeerId& peer) const;
  const Options& options() const { return options_; }

  struct Impl;

 private:
  friend class SubscriptionImpl;
  Router(Host& host, Options options, prometheus::Registry* metrics);
  Host& host_;
  Options options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bzzz::p2p::pubsub
