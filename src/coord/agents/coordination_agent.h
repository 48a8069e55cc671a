// coord/agents: the node's agent on the original BZZZ's coordination topic
// (bzzz/coordination/v1). It joins the topic with coord::pubsub_validator on it, says
// what the node's agent can do (capability_broadcast: at start, on a change, and to
// peers that join the topic later) and how loaded it is (availability_broadcast every
// interval, the first right after start), feeds what others say into an AgentRegistry,
// and hands every accepted envelope to the handlers registered for its type.
//
// Owns: one subscription to the topic, the validator on it, two coroutines on a strand
// of the host's io_context (reader, announcer), bzzz_coord_broadcasts_total{type},
// bzzz_coord_broadcast_errors_total{type}, bzzz_coord_received_total{type} and (through
// message_observer) bzzz_coord_messages_total. Depends on p2p/pubsub, coord/messages and
// the rest of coord/agents; knows nothing of tasks, the HTTP API or config files.
//
// Decisions:
// - The original sends capabilities only at startup and on change, so a peer that
//   joins later (and every peer, when the node starts before it has any) never learns
//   them. We also send them when a peer appears among our topic neighbours (checked
//   every peer_check_interval, reason "new_peer", with an availability broadcast: one
//   broadcast per new neighbour), and every capability_refresh (reason "refresh") for
//   the agents further away. Go agents only print the reason.
// - A load or status change waits for the next availability broadcast, as in the
//   original: schedulers read availability at the interval anyway.
// - Our own messages (gossipsub delivers them locally too) reach handlers with
//   `local` set but never the registry: it holds what we heard from others.
// - Publishing failures (router stopped, message too large) are logged and counted; the
//   loops go on.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "base/status/result.h"
#include "coord/agents/profile.h"
#include "coord/agents/registry.h"
#include "coord/messages/envelope.h"
#include "p2p/identity/peer_id.h"
#include "p2p/pubsub/router.h"

namespace prometheus {
class Registry;
}

namespace bzzz::coord {

struct AgentOptions {
  std::chrono::milliseconds availability_interval{30'000};  // the original's
  std::chrono::milliseconds peer_check_interval{1'000};     // looking for new topic peers
  // Capabilities are sent again after this long without a change (0: never), so that
  // agents that are not our neighbours and joined after our last broadcast learn them.
  std::chrono::milliseconds capability_refresh{300'000};
  std::string version = "0.2.0";  // `version` in capability_broadcast: the node's version
  // The registry's; a zero ttl means 3 × availability_interval.
  std::chrono::milliseconds registry_ttl{0};
  std::chrono::milliseconds registry_forget_after{600'000};
  size_t max_agents = 4096;
  std::function<TimePoint()> clock;  // for envelopes and the registry; empty: system clock
};

// One accepted envelope on the topic.
struct CoordMessage {
  Envelope envelope;
  p2p::PeerId publisher;      // the gossipsub signer (== envelope.from, the validator saw to it)
  p2p::PeerId received_from;  // the neighbour that passed it on (our id when local)
  bool local = false;         // published by this node
};
using CoordHandler = std::function<void(const CoordMessage&)>;

class CoordinationAgent : public std::enable_shared_from_this<CoordinationAgent> {
 public:
  // `io` is the router's host's io_context; `self` the host's peer id. An empty
  // profile.id becomes `self` in base58.
  static std::shared_ptr<CoordinationAgent> create(boost::asio::io_context& io,
                                                   std::shared_ptr<p2p::pubsub::Router> router, p2p::PeerId self,
                                                   AgentProfile profile, AgentOptions options,
                                                   prometheus::Registry* metrics);
  ~CoordinationAgent();
  CoordinationAgent(const CoordinationAgent&) = delete;
  CoordinationAgent& operator=(const CoordinationAgent&) = delete;

  // Validates the profile, registers the validator, subscribes and starts the loops.
  // Errors: an invalid profile (kInvalidArgument), started twice (kAlreadyExists), after
  // stop() (kUnavailable).
  Status start();
  // Ends both loops and leaves the topic (the validator stays: it is pure). Idempotent;
  // any thread. Call it before stopping the router.
  void stop();

  AgentProfile profile() const;
  // Replaces the profile (validated first). A change of models, capabilities,
  // specialization, role or id is broadcast at once; the load goes out with the next
  // availability broadcast. Before start() it only replaces the profile.
  Status update_profile(AgentProfile profile);
  // The load part alone: current tasks and the status override ("" = derived).
  Status set_load(int current_tasks, std::string status = {});

  AgentRegistry& registry() { return registry_; }
  const AgentRegistry& registry() const { return registry_; }
  const p2p::PeerId& self() const { return self_; }

  // Calls `handler` for each accepted envelope of `type` (a type_name(), any other type
  // string a peer may send, or "" for every type), ours included (CoordMessage::local).
  // Handlers run on the agent's strand, one message at a time in arrival order, outside
  // the agent's locks; they must not block. A handler that throws is logged. Returns an
  // id for remove_handler. Any thread, before or after start().
  uint64_t on_message(std::string type, CoordHandler handler);
  void remove_handler(uint64_t id);

  struct Impl;  // strand, timer, subscription, metrics (coordination_agent.cc)

 private:
  CoordinationAgent(boost::asio::io_context& io, std::shared_ptr<p2p::pubsub::Router> router, p2p::PeerId self,
                    AgentProfile profile, AgentOptions options, prometheus::Registry* metrics);

  std::shared_ptr<p2p::pubsub::Router> router_;
  p2p::PeerId self_;
  AgentOptions options_;
  prometheus::Registry* metrics_;
  AgentRegistry registry_;
  std::unique_ptr<Impl> impl_;

  mutable std::mutex mutex_;  // profile_ and handlers_
  AgentProfile profile_;
  struct HandlerEntry {
    uint64_t id;
    std::string type;
    CoordHandler handler;
  };
  std::vector<HandlerEntry> handlers_;
  uint64_t next_handler_id_ = 1;

  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
};

}  // namespace bzzz::coord
