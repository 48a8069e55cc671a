#include "coord/agents/coordination_agent.h"

#include <algorithm>
#include <exception>
#include <set>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include "coord/agents/message_metrics.h"
#include "coord/messages/pubsub_validator.h"

namespace bzzz::coord {

namespace asio = boost::asio;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

AgentRegistry::Options registry_options(const AgentOptions& options) {
  AgentRegistry::Options out;
  out.ttl = options.registry_ttl.count() > 0 ? options.registry_ttl : 3 * options.availability_interval;
  out.forget_after = options.registry_forget_after;
  out.max_agents = options.max_agents;
  out.clock = options.clock;
  return out;
}

std::string_view received_label(const Envelope& envelope) {
  const MessageType kind = envelope.kind();
  return kind == MessageType::kUnknown ? std::string_view("unknown") : type_name(kind);
}

}  // namespace

struct CoordinationAgent::Impl {
  Impl(asio::io_context& io, prometheus::Registry* metrics) : strand(asio::make_strand(io)), timer(strand) {
    if (metrics == nullptr) return;
    auto& sent = prometheus::BuildCounter()
                     .Name("bzzz_coord_broadcasts_total")
                     .Help("Capability and availability broadcasts this node published on bzzz/coordination/v1")
                     .Register(*metrics);
    auto& failed = prometheus::BuildCounter()
                       .Name("bzzz_coord_broadcast_errors_total")
                       .Help("Capability and availability broadcasts the router refused")
                       .Register(*metrics);
    const std::string capability(type_name(MessageType::kCapabilityBroadcast));
    const std::string availability(type_name(MessageType::kAvailabilityBroadcast));
    capability_sent = &sent.Add({{"type", capability}});
    availability_sent = &sent.Add({{"type", availability}});
    capability_failed = &failed.Add({{"type", capability}});
    availability_failed = &failed.Add({{"type", availability}});
    received = &prometheus::BuildCounter()
                    .Name("bzzz_coord_received_total")
                    .Help("Envelopes from other peers accepted on bzzz/coordination/v1, by type")
                    .Register(*metrics);
  }

  static asio::awaitable<void> receive_loop(std::shared_ptr<CoordinationAgent> self);
  static asio::awaitable<void> announce_loop(std::shared_ptr<CoordinationAgent> self);

  // The rest runs on the strand.
  void deliver(CoordinationAgent& self, const p2p::pubsub::Message& message);
  void publish(CoordinationAgent& self, MessageType type, Json data);
  void publish_capability(CoordinationAgent& self, std::string_view reason);
  void publish_availability(CoordinationAgent& self);
  std::set<p2p::PeerId> topic_peers(const CoordinationAgent& self) const;

  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer timer;
  std::shared_ptr<p2p::pubsub::Subscription> subscription;
  std::set<p2p::PeerId> told;  // topic peers when we last checked: they have our capabilities
  SteadyClock::time_point capability_at{};  // our last capability broadcast

  prometheus::Counter* capability_sent = nullptr;
  prometheus::Counter* availability_sent = nullptr;
  prometheus::Counter* capability_failed = nullptr;
  prometheus::Counter* availability_failed = nullptr;
  prometheus::Family<prometheus::Counter>* received = nullptr;
};

namespace {

TimePoint now_from(const AgentOptions& options) {
  if (options.clock) return options.clock();
  return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
}

}  // namespace

std::shared_ptr<CoordinationAgent> CoordinationAgent::create(boost::asio::io_context& io,
                                                             std::shared_ptr<p2p::pubsub::Router> router,
                                                             p2p::PeerId self, AgentProfile profile,
                                                             AgentOptions options, prometheus::Registry* metrics) {
  return std::shared_ptr<CoordinationAgent>(
      new CoordinationAgent(io, std::move(router), std::move(self), std::move(profile), std::move(options), metrics));
}

CoordinationAgent::CoordinationAgent(boost::asio::io_context& io, std::shared_ptr<p2p::pubsub::Router> router,
                                     p2p::PeerId self, AgentProfile profile, AgentOptions options,
                                     prometheus::Registry* metrics)
    : router_(std::move(router)),
      self_(std::move(self)),
      options_(std::move(options)),
      metrics_(metrics),
      registry_(registry_options(options_), metrics),
      impl_(std::make_unique<Impl>(io, metrics)),
      profile_(std::move(profile)) {
  if (options_.availability_interval < std::chrono::milliseconds(10)) {
    options_.availability_interval = std::chrono::milliseconds(10);
  }
  if (options_.peer_check_interval < std::chrono::milliseconds(10)) {
    options_.peer_check_interval = std::chrono::milliseconds(10);
  }
  if (profile_.id.empty()) profile_.id = self_.to_string();
}

CoordinationAgent::~CoordinationAgent() { stop(); }

Status CoordinationAgent::start() {
  AgentProfile profile = this->profile();
  BZZZ_TRY(validate_profile(profile));
  if (stopped_) return make_error(ErrorCode::kUnavailable, "the coordination agent was stopped");
  if (started_.exchange(true)) {
    return make_error(ErrorCode::kAlreadyExists, "the coordination agent was already started");
  }
  const std::string topic(kCoordinationTopic);
  router_->set_validator(topic, pubsub_validator(message_observer(metrics_, TopicKind::kCoordination)));
  impl_->subscription = router_->subscribe(topic);
  spdlog::info("coord: agent {} (role {}, {} capabilities) on {}, availability every {} ms", profile.id,
               profile.role.empty() ? "none" : profile.role, profile.capabilities.size(), topic,
               options_.availability_interval.count());
  auto self = shared_from_this();
  asio::co_spawn(impl_->strand, Impl::receive_loop(self), asio::detached);
  asio::co_spawn(impl_->strand, Impl::announce_loop(self), asio::detached);
  return ok();
}

void CoordinationAgent::stop() {
  if (stopped_.exchange(true)) return;
  if (impl_->subscription) impl_->subscription->cancel();
  // The timer belongs to the strand; in the destructor there is no loop left to wake.
  asio::post(impl_->strand, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->impl_->timer.cancel();
  });
}

AgentProfile CoordinationAgent::profile() const {
  std::lock_guard lock(mutex_);
  return profile_;
}

Status CoordinationAgent::update_profile(AgentProfile profile) {
  if (profile.id.empty()) profile.id = self_.to_string();
  BZZZ_TRY(validate_profile(profile));
  std::string_view reason;
  {
    std::lock_guard lock(mutex_);
    reason = capability_change(profile_, profile);
    profile_ = std::move(profile);
  }
  if (!reason.empty() && started_ && !stopped_) {
    // `reason` is one of profile.h's constants.
    asio::post(impl_->strand, [self = shared_from_this(), reason] {
      if (!self->stopped_) self->impl_->publish_capability(*self, reason);
    });
  }
  return ok();
}

Status CoordinationAgent::set_load(int current_tasks, std::string status) {
  std::lock_guard lock(mutex_);
  AgentProfile next = profile_;
  next.current_tasks = current_tasks;
  next.status = std::move(status);
  BZZZ_TRY(validate_profile(next));
  profile_ = std::move(next);
  return ok();
}

uint64_t CoordinationAgent::on_message(std::string type, CoordHandler handler) {
  std::lock_guard lock(mutex_);
  const uint64_t id = next_handler_id_++;
  handlers_.push_back(HandlerEntry{id, std::move(type), std::move(handler)});
  return id;
}

void CoordinationAgent::remove_handler(uint64_t id) {
  std::lock_guard lock(mutex_);
  std::erase_if(handlers_, [id](const HandlerEntry& entry) { return entry.id == id; });
}

// --- Impl --------------------------------------------------------------------------

asio::awaitable<void> CoordinationAgent::Impl::receive_loop(std::shared_ptr<CoordinationAgent> self) {
  std::shared_ptr<p2p::pubsub::Subscription> subscription = self->impl_->subscription;
  for (;;) {
    std::optional<p2p::pubsub::Message> message = co_await subscription->next();
    if (!message) break;
    self->impl_->deliver(*self, *message);
  }
}

asio::awaitable<void> CoordinationAgent::Impl::announce_loop(std::shared_ptr<CoordinationAgent> self) {
  Impl& impl = *self->impl_;
  if (self->stopped_) co_return;
  impl.publish_capability(*self, kReasonStartup);
  SteadyClock::time_point next_availability = SteadyClock::now();
  while (!self->stopped_) {
    const SteadyClock::time_point now = SteadyClock::now();
    std::set<p2p::PeerId> peers = impl.topic_peers(*self);
    const bool newcomer =
        std::any_of(peers.begin(), peers.end(), [&](const p2p::PeerId& peer) { return !impl.told.contains(peer); });
    // Forgetting the ones that left means a peer that comes back is told again.
    impl.told = std::move(peers);
    const auto refresh = self->options_.capability_refresh;
    if (newcomer) {
      impl.publish_capability(*self, kReasonNewPeer);
      impl.publish_availability(*self);
    } else if (refresh.count() > 0 && now - impl.capability_at >= refresh) {
      impl.publish_capability(*self, kReasonRefresh);
    }
    if (now >= next_availability) {
      if (!newcomer) impl.publish_availability(*self);
      next_availability = now + self->options_.availability_interval;
      self->registry_.sweep();
    }
    impl.timer.expires_at(std::min(now + self->options_.peer_check_interval, next_availability));
    boost::system::error_code ec;
    co_await impl.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void CoordinationAgent::Impl::deliver(CoordinationAgent& self, const p2p::pubsub::Message& message) {
  auto envelope = parse_envelope(message.data);
  if (!envelope) {
    // Only if someone replaced our validator: it accepts envelopes alone.
    if (received != nullptr) received->Add({{"type", "invalid"}}).Increment();
    spdlog::debug("coord: dropped a message from {}: {}", message.from.to_string(), envelope.error().message());
    return;
  }
  if (!message.local) {
    if (received != nullptr) received->Add({{"type", std::string(received_label(*envelope))}}).Increment();
    if (!self.registry_.observe(*envelope) && envelope->kind() == MessageType::kUnknown) {
      spdlog::debug("coord: {} sent type {}, which we only pass on", message.from.to_string(),
                    bzzz::quoted(envelope->type));
    }
  }

  std::vector<CoordHandler> matching;
  {
    std::lock_guard lock(self.mutex_);
    for (const auto& entry : self.handlers_) {
      if (entry.type.empty() || entry.type == envelope->type) matching.push_back(entry.handler);
    }
  }
  if (matching.empty()) return;
  const CoordMessage delivered{std::move(*envelope), message.from, message.received_from, message.local};
  for (const auto& handler : matching) {
    try {
      handler(delivered);
    } catch (const std::exception& e) {
      spdlog::warn("coord: a handler for {} threw: {}", delivered.envelope.type, e.what());
    } catch (...) {
      spdlog::warn("coord: a handler for {} threw", delivered.envelope.type);
    }
  }
}

void CoordinationAgent::Impl::publish(CoordinationAgent& self, MessageType type, Json data) {
  const bool capability = type == MessageType::kCapabilityBroadcast;
  Envelope envelope = make_envelope(type, self.self_, std::move(data), now_from(self.options_));
  auto sent = self.router_->publish(std::string(kCoordinationTopic), encode_envelope(envelope));
  if (!sent) {
    prometheus::Counter* failed = capability ? capability_failed : availability_failed;
    if (failed != nullptr) failed->Increment();
    spdlog::warn("coord: cannot publish {}: {}", envelope.type, sent.error().message());
    return;
  }
  prometheus::Counter* counter = capability ? capability_sent : availability_sent;
  if (counter != nullptr) counter->Increment();
  spdlog::debug("coord: published {} to {} peers", envelope.type, sent->reached);
}

void CoordinationAgent::Impl::publish_capability(CoordinationAgent& self, std::string_view reason) {
  const AgentProfile profile = self.profile();
  publish(self, MessageType::kCapabilityBroadcast,
          capability_data(profile, self.self_, reason, self.options_.version, now_from(self.options_)));
  // Every peer on the topic gets it (flood publishing, or the mesh otherwise).
  told = topic_peers(self);
  capability_at = SteadyClock::now();
}

void CoordinationAgent::Impl::publish_availability(CoordinationAgent& self) {
  const AgentProfile profile = self.profile();
  publish(self, MessageType::kAvailabilityBroadcast, availability_data(profile, self.self_, now_from(self.options_)));
}

std::set<p2p::PeerId> CoordinationAgent::Impl::topic_peers(const CoordinationAgent& self) const {
  std::set<p2p::PeerId> out;
  for (const auto& info : self.router_->topics()) {
    if (info.topic == kCoordinationTopic) out.insert(info.peers.begin(), info.peers.end());
  }
  return out;
}

}  // namespace bzzz::coord
