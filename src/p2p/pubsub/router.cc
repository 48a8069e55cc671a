#include "p2p/pubsub/router.h"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "p2p/net/byte_stream.h"
#include "p2p/pubsub/router_impl.h"

namespace bzzz::p2p::pubsub {
namespace asio = boost::asio;

namespace {

// Proposed in this order on our outbound stream; all three are served inbound (1.2's
// only addition, IDONTWANT, is parsed and ignored).
const std::vector<std::string> kOutboundProtocols = {std::string(kMeshsub11), std::string(kMeshsub10)};
constexpr size_t kOutboxLimit = 32u << 20;  // a peer that reads nothing loses messages past this
constexpr size_t kMaxLabels = 100;

bool speaks_meshsub(const std::vector<std::string>& protocols) {
  return std::any_of(protocols.begin(), protocols.end(),
                     [](const std::string& p) { return p.rfind("/meshsub/1.", 0) == 0; });
}

uint64_t initial_seqno() {
  // Increasing across restarts too (kubo rejects a publisher's non-increasing seqnos).
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace

// --- Outbox and Subscription -----------------------------------------------------

bool Outbox::push(std::span<const uint8_t> bytes, size_t limit) {
  {
    std::lock_guard lock(mutex);
    if (closed) return true;
    if (pending.size() + bytes.size() > limit) return false;
    pending.insert(pending.end(), bytes.begin(), bytes.end());
  }
  signal.try_send(boost::system::error_code{});
  return true;
}

void Outbox::close() {
  {
    std::lock_guard lock(mutex);
    closed = true;
  }
  signal.try_send(boost::system::error_code{});
}

SubscriptionImpl::SubscriptionImpl(std::weak_ptr<Router> router, std::string topic, size_t capacity,
                                   const asio::any_io_executor& ex)
    : router_(std::move(router)), topic_(std::move(topic)), capacity_(capacity), signal_(ex, 1) {}

SubscriptionImpl::~SubscriptionImpl() { cancel(); }

asio::awaitable<std::optional<Message>> SubscriptionImpl::next() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (!queue_.empty()) {
        Message m = std::move(queue_.front());
        queue_.pop_front();
        co_return m;
      }
      if (done_) co_return std::nullopt;
    }
    boost::system::error_code ec;
    co_await signal_.async_receive(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::nullopt;
  }
}

std::optional<Message> SubscriptionImpl::try_next() {
  std::lock_guard lock(mutex_);
  if (queue_.empty()) return std::nullopt;
  Message m = std::move(queue_.front());
  queue_.pop_front();
  return m;
}

size_t SubscriptionImpl::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void SubscriptionImpl::push(const Message& msg) {
  {
    std::lock_guard lock(mutex_);
    if (done_) return;
    if (queue_.size() >= capacity_) {
      queue_.pop_front();
      ++dropped_;
    }
    queue_.push_back(msg);
  }
  signal_.try_send(boost::system::error_code{});
}

void SubscriptionImpl::finish() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  signal_.try_send(boost::system::error_code{});
}

void SubscriptionImpl::cancel() {
  {
    std::lock_guard lock(mutex_);
    if (cancelled_) return;
    cancelled_ = true;
    done_ = true;
  }
  signal_.try_send(boost::system::error_code{});
  // Leaving the topic takes the router's mutex, which may be held right now (a last
  // reference can drop inside the router): so it happens on the loop, later.
  asio::post(signal_.get_executor(), [router = router_, topic = topic_] {
    if (auto r = router.lock()) r->impl_->prune_subscriptions(topic);
  });
}

bool SubscriptionImpl::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

// --- Metrics -----------------------------------------------------------------------

Metrics::Metrics(prometheus::Registry* registry)
    : own(registry ? nullptr : std::make_shared<prometheus::Registry>()),
      reg(registry ? *registry : *own),
      messages(prometheus::BuildCounter().Name("bzzz_pubsub_messages_total")
                   .Help("Pubsub messages by topic and event (published, received, delivered, forwarded, duplicate)")
                   .Register(reg)),
      rejected(prometheus::BuildCounter().Name("bzzz_pubsub_rejected_total")
                   .Help("Pubsub messages rejected (bad signature, validator), by topic and reason").Register(reg)),
      ignored(prometheus::BuildCounter().Name("bzzz_pubsub_ignored_total")
                  .Help("Pubsub messages dropped without penalty, by topic and reason").Register(reg)),
      rpc_errors(prometheus::BuildCounter().Name("bzzz_pubsub_rpc_errors_total")
                     .Help("Pubsub RPCs or control messages refused, by reason").Register(reg)),
      control(prometheus::BuildCounter().Name("bzzz_pubsub_control_total")
                  .Help("Gossipsub control messages by type and direction").Register(reg)),
      mesh_peers(prometheus::BuildGauge().Name("bzzz_pubsub_mesh_peers").Help("Mesh size per subscribed topic").Register(reg)),
      topic_peers(prometheus::BuildGauge().Name("bzzz_pubsub_topic_peers").Help("Peers that announced each topic").Register(reg)),
      peers(prometheus::BuildGauge().Name("bzzz_pubsub_peers").Help("Peers with a gossipsub stream").Register(reg).Add({})) {}

// --- Router ------------------------------------------------------------------------

Router::Impl::Impl(Router& r, Host& h, Options options, prometheus::Registry* registry)
    : router(r),
      host(h),
      opt(std::move(options)),
      metrics(registry),
      seen(opt.seen_ttl),
      mcache(opt.mcache_len, opt.mcache_gossip),
      seqno(initial_seqno()),
      rng(std::random_device{}()) {}

Router::Router(Host& host, Options options, prometheus::Registry* metrics)
    : host_(host), options_(options), impl_(std::make_unique<Impl>(*this, host, std::move(options), metrics)) {}

Router::~Router() = default;

std::shared_ptr<Router> Router::create(Host& host, Options options, prometheus::Registry* metrics) {
  return std::shared_ptr<Router>(new Router(host, std::move(options), metrics));
}

void Router::start() {
  std::weak_ptr<Router> weak = weak_from_this();
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->started) return;
    impl_->started = true;
  }
  auto handler = [weak](std::shared_ptr<net::Stream> stream) -> asio::awaitable<void> {
    auto self = weak.lock();
    if (!self) co_return;
    co_await self->impl_->read_loop(std::move(stream));
  };
  for (auto p : {kMeshsub12, kMeshsub11, kMeshsub10}) host_.handle(std::string(p), handler);
  host_.subscribe([weak](const PeerEvent& event) {
    if (auto self = weak.lock()) self->impl_->on_host_event(event);
  });
  {
    std::lock_guard lock(impl_->mutex);
    for (const auto& conn : host_.connections()) {
      auto rec = host_.peer_store().get(conn->info().peer);
      if (rec && speaks_meshsub(rec->protocols)) impl_->ensure_outbound(conn->info().peer);
    }
  }
  impl_->heartbeat_timer = std::make_shared<asio::steady_timer>(asio::make_strand(host_.io()));
  asio::co_spawn(impl_->heartbeat_timer->get_executor(),
                 [self = shared_from_this()]() -> asio::awaitable<void> { co_await self->impl_->heartbeat_loop(); },
                 asio::detached);
}

void Router::stop() {
  std::vector<std::shared_ptr<SubscriptionImpl>> ending;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopped) return;
    impl_->stopped = true;
    for (auto& [peer, ps] : impl_->peers) {
      if (ps.outbox) ps.outbox->close();
    }
    for (auto& [topic, list] : impl_->subs) {
      for (auto& w : list) {
        if (auto s = w.lock()) ending.push_back(std::move(s));
      }
    }
    if (impl_->heartbeat_timer) {
      asio::post(impl_->heartbeat_timer->get_executor(), [t = impl_->heartbeat_timer] { t->cancel(); });
    }
  }
  for (auto& s : ending) s->finish();
}

std::shared_ptr<Subscription> Router::subscribe(std::string topic) {
  auto sub = std::make_shared<SubscriptionImpl>(weak_from_this(), topic, options_.subscription_queue,
                                                host_.io().get_executor());
  std::lock_guard lock(impl_->mutex);
  if (impl_->stopped) {
    sub->finish();
    return sub;
  }
  impl_->subs[topic].push_back(sub);
  impl_->join(topic);
  return sub;
}

std::shared_ptr<Subscription> Router::subscribe_local(std::string topic) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->local_topics.insert(topic);
  }
  return subscribe(std::move(topic));
}

void Router::set_validator(std::string topic, Validator validator) {
  std::lock_guard lock(impl_->mutex);
  if (validator) {
    impl_->validators[std::move(topic)] = std::move(validator);
  } else {
    impl_->validators.erase(topic);
  }
}

Result<Router::Published> Router::publish(std::string topic, std::vector<uint8_t> data) {
  if (topic.empty()) return make_error(ErrorCode::kInvalidArgument, "pubsub: publish needs a topic");
  if (data.size() > options_.max_message_size) {
    return make_error(ErrorCode::kTooLarge, fmt::format("pubsub: a message of {} bytes is over the limit of {}",
                                                        data.size(), options_.max_message_size));
  }
  auto& im = *impl_;
  std::lock_guard lock(im.mutex);
  if (im.stopped || !im.started) return make_error(ErrorCode::kUnavailable, "pubsub: the router is not running");
  uint64_t seq = ++im.seqno;
  pb::Message msg = sign_message(host_.identity(), topic, data, seq);
  Message local{host_.id(), host_.id(), topic, std::move(data), seq, message_id(host_.id(), seq), true};
  if (auto v = im.validators.find(topic); v != im.validators.end()) {
    Validation verdict = v->second(local);
    if (verdict.verdict != Verdict::kAccept) {
      im.count(topic, "refused");
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("pubsub: the validator of {} refused the message: {}", topic, verdict.reason));
    }
  }
  auto now = Clock::now();
  im.seen.add(local.id, now);
  im.mcache.put(local.id, msg);
  im.count(topic, "published");
  im.deliver(local);

  std::set<PeerId> targets;
  auto& known = im.topic_peers[topic];
  if (im.local_topics.count(topic)) {
    // Ours alone: delivered above, sent nowhere.
  } else if (options_.flood_publish) {
    for (const auto& p : known) {
      auto it = im.peers.find(p);
      if (it != im.peers.end() && it->second.outbox && im.score(it->second) >= options_.publish_threshold) {
        targets.insert(p);
      }
    }
  } else if (im.subscribed(topic)) {
    targets = im.mesh[topic];
  }
  if (!im.subscribed(topic) && !im.local_topics.count(topic)) {
    // Remember a fanout for gossip (and for publishing without flood).
    auto& fan = im.fanout[topic];
    if (fan.empty()) {
      auto picks = im.candidates(topic, {}, options_.publish_threshold);
      for (size_t i = 0; i < picks.size() && fan.size() < options_.d; ++i) fan.insert(picks[i]);
    }
    im.fanout_last[topic] = now;
    if (!options_.flood_publish) targets = fan;
  }
  pb::RPC rpc;
  *rpc.add_publish() = msg;
  auto bytes = encode_rpc(rpc);
  for (const auto& p : targets) im.send_bytes(p, bytes);
  if (!targets.empty()) {
    im.metrics.messages.Add({{"topic", im.topic_label(topic)}, {"event", "sent"}}).Increment(static_cast<double>(targets.size()));
  }
  return Published{local.id, targets.size()};
}

std::vector<TopicInfo> Router::topics() const {
  std::lock_guard lock(impl_->mutex);
  std::set<std::string> names;
  for (const auto& [t, _] : impl_->mesh) {
    if (!impl_->local_topics.count(t)) names.insert(t);
  }
  for (const auto& [t, p] : impl_->topic_peers) {
    if (!p.empty()) names.insert(t);
  }
  std::vector<TopicInfo> out;
  for (const auto& t : names) {
    TopicInfo info;
    info.topic = t;
    info.subscribed = impl_->subscribed(t) && !impl_->local_topics.count(t);
    if (auto it = impl_->topic_peers.find(t); it != impl_->topic_peers.end()) {
      info.peers.assign(it->second.begin(), it->second.end());
    }
    const auto* m = info.subscribed ? &impl_->mesh.at(t) : nullptr;
    if (!m) {
      if (auto f = impl_->fanout.find(t); f != impl_->fanout.end()) m = &f->second;
    }
    if (m) info.mesh.assign(m->begin(), m->end());
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<PeerId> Router::peers() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<PeerId> out;
  for (const auto& [p, ps] : impl_->peers) {
    if (ps.outbox || ps.inbound_streams > 0) out.push_back(p);
  }
  return out;
}

double Router::score(const PeerId& peer) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->peers.find(peer);
  return it == impl_->peers.end() ? 0.0 : impl_->score(it->second);
}

// --- peers and streams -------------------------------------------------------------

void Router::Impl::on_host_event(const PeerEvent& event) {
  std::lock_guard lock(mutex);
  if (stopped) return;
  switch (event.kind) {
    case PeerEvent::Kind::kIdentified: {
      auto rec = host.peer_store().get(event.peer);
      if (rec && speaks_meshsub(rec->protocols)) ensure_outbound(event.peer);
      break;
    }
    case PeerEvent::Kind::kDisconnected:
      if (!host.connection(event.peer)) remove_peer(event.peer);
      break;
    case PeerEvent::Kind::kConnected:
      break;
  }
}

void Router::Impl::ensure_outbound(const PeerId& peer) {
  auto& ps = peers[peer];
  if (ps.outbox || ps.opening || stopped) return;
  ps.opening = true;
  asio::co_spawn(host.io(),
                 [self = router.shared_from_this(), peer]() -> asio::awaitable<void> {
                   co_await self->impl_->open_outbound(peer);
                 },
                 asio::detached);
}

asio::awaitable<void> Router::Impl::open_outbound(PeerId peer) {
  auto protocols = kOutboundProtocols;
  auto stream = co_await host.new_stream(peer, std::move(protocols));
  std::shared_ptr<Outbox> box;
  {
    std::lock_guard lock(mutex);
    auto it = peers.find(peer);
    if (it != peers.end()) it->second.opening = false;
    if (!stream) {
      spdlog::debug("pubsub: no outbound stream to {}: {}", peer.to_string(), stream.error().message());
      co_return;
    }
    if (stopped || it == peers.end() || !(*stream)->connection().usable()) {
      (*stream)->reset();
      co_return;
    }
    auto& ps = it->second;
    box = std::make_shared<Outbox>((*stream)->connection().strand());
    ps.outbox = box;
    ps.outbound_conn = (*stream)->connection().info().outbound;
    if (auto rec = host.peer_store().get(peer); rec && rec->agent_version.find("js-libp2p") != std::string::npos) {
      ps.js_ids = true;
    }
    pb::RPC hello;
    for (const auto& [topic, _] : mesh) {
      if (local_topics.count(topic)) continue;
      auto* sub = hello.add_subscriptions();
      sub->set_subscribe(true);
      sub->set_topicid(topic);
    }
    if (hello.subscriptions_size() > 0) box->push(encode_rpc(hello), kOutboxLimit);
    metrics.peers.Set(static_cast<double>(peers.size()));
  }
  auto s = std::move(*stream);
  auto& conn = s->connection();
  asio::co_spawn(
      conn.strand(),
      [s, box, peer, weak = router.weak_from_this()]() -> asio::awaitable<void> {
        for (;;) {
          std::vector<uint8_t> batch;
          bool closed = false;
          {
            std::lock_guard lock(box->mutex);
            batch.swap(box->pending);
            closed = box->closed;
          }
          if (batch.empty()) {
            if (closed) break;
            boost::system::error_code ec;
            co_await box->signal.async_receive(asio::redirect_error(asio::use_awaitable, ec));
            continue;
          }
          std::span<const uint8_t> view(batch);
          auto st = co_await s->write(view);
          if (!st) break;
        }
        bool clean;
        {
          std::lock_guard lock(box->mutex);
          clean = box->closed;
          box->closed = true;
        }
        if (clean) {
          co_await s->close(std::chrono::milliseconds(1000));
        } else {
          s->reset();
        }
        if (auto self = weak.lock()) {
          auto& im = *self->impl_;
          std::lock_guard lock(im.mutex);
          auto it = im.peers.find(peer);
          if (it != im.peers.end() && it->second.outbox == box) it->second.outbox.reset();
        }
      },
      asio::detached);
}

asio::awaitable<void> Router::Impl::read_loop(std::shared_ptr<net::Stream> stream) {
  PeerId peer = stream->connection().info().peer;
  {
    std::lock_guard lock(mutex);
    if (stopped) co_return;
    peers[peer].inbound_streams++;
    ensure_outbound(peer);
  }
  for (;;) {
    auto msg = co_await net::read_length_prefixed(*stream, opt.max_rpc_size);
    if (!msg) {
      rpc_error(msg.error().code() == ErrorCode::kTooLarge ? "rpc_too_large" : "stream_error");
      spdlog::debug("pubsub: stream from {} ends: {}", peer.to_string(), msg.error().message());
      break;
    }
    if (!*msg) break;  // the peer closed its stream
    std::lock_guard lock(mutex);
    if (stopped) break;
    handle_rpc(peer, **msg);
  }
  {
    std::lock_guard lock(mutex);
    if (auto it = peers.find(peer); it != peers.end()) it->second.inbound_streams--;
  }
  stream->reset();
}

void Router::Impl::remove_peer(const PeerId& peer) {
  auto it = peers.find(peer);
  if (it == peers.end()) return;
  if (it->second.outbox) it->second.outbox->close();
  for (const auto& t : it->second.topics) {
    if (auto tp = topic_peers.find(t); tp != topic_peers.end()) tp->second.erase(peer);
  }
  for (auto& [t, m] : mesh) m.erase(peer);
  for (auto& [t, f] : fanout) f.erase(peer);
  peers.erase(it);
  metrics.peers.Set(static_cast<double>(peers.size()));
}

void Router::Impl::send(const PeerId& peer, const pb::RPC& rpc) {
  auto bytes = encode_rpc(rpc);
  send_bytes(peer, bytes);
}

void Router::Impl::send_bytes(const PeerId& peer, std::span<const uint8_t> rpc) {
  auto it = peers.find(peer);
  if (it == peers.end() || !it->second.outbox) return;
  if (!it->second.outbox->push(rpc, kOutboxLimit)) rpc_error("peer_queue_full");
}

void Router::Impl::deliver(const Message& msg) {
  auto it = subs.find(msg.topic);
  if (it == subs.end()) return;
  bool any = false;
  for (auto& w : it->second) {
    if (auto s = w.lock()) {
      s->push(msg);
      any = true;
    }
  }
  if (any) count(msg.topic, "delivered");
}

void Router::Impl::join(const std::string& topic) {
  if (subscribed(topic)) return;
  auto& m = mesh[topic];
  if (local_topics.count(topic)) return;
  // A fanout becomes the start of the mesh.
  if (auto f = fanout.find(topic); f != fanout.end()) {
    for (const auto& p : f->second) {
      if (m.size() < opt.d && !in_backoff(topic, p, opt.heartbeat_interval)) m.insert(p);
    }
    fanout.erase(f);
    fanout_last.erase(topic);
  }
  auto more = candidates(topic, m, 0.0);
  for (size_t i = 0; i < more.size() && m.size() < opt.d; ++i) m.insert(more[i]);
  pb::RPC announce;
  auto* sub = announce.add_subscriptions();
  sub->set_subscribe(true);
  sub->set_topicid(topic);
  auto bytes = encode_rpc(announce);
  for (const auto& [p, ps] : peers) send_bytes(p, bytes);
  for (const auto& p : m) {
    pb::RPC graft;
    graft.mutable_control()->add_graft()->set_topicid(topic);
    send(p, graft);
    metrics.control.Add({{"type", "graft"}, {"direction", "out"}}).Increment();
  }
  topic_label(topic);
}

void Router::Impl::leave(const std::string& topic) {
  auto it = mesh.find(topic);
  if (it == mesh.end()) return;
  if (local_topics.erase(topic)) {
    mesh.erase(it);
    return;
  }
  for (const auto& p : it->second) {
    pb::RPC rpc;
    add_prune(*rpc.mutable_control(), p, topic, opt.unsubscribe_backoff);
    send(p, rpc);
  }
  mesh.erase(it);
  pb::RPC announce;
  auto* sub = announce.add_subscriptions();
  sub->set_subscribe(false);
  sub->set_topicid(topic);
  auto bytes = encode_rpc(announce);
  for (const auto& [p, ps] : peers) send_bytes(p, bytes);
  metrics.mesh_peers.Add({{"topic", topic_label(topic)}}).Set(0);
}

void Router::Impl::prune_subscriptions(const std::string& topic) {
  std::lock_guard lock(mutex);
  auto it = subs.find(topic);
  if (it == subs.end()) return;
  auto& list = it->second;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [](const std::weak_ptr<SubscriptionImpl>& w) {
                              auto s = w.lock();
                              return !s || s->cancelled();
                            }),
             list.end());
  if (list.empty()) {
    subs.erase(it);
    if (!stopped) leave(topic);
  }
}

std::string Router::Impl::topic_label(const std::string& topic) {
  if (local_topics.count(topic)) return "local";
  if (labels.count(topic)) return topic;
  if (labels.size() < kMaxLabels && (subscribed(topic) || fanout.count(topic))) {
    labels.insert(topic);
    return topic;
  }
  return "other";
}

void Router::Impl::count(const std::string& topic, const char* event) {
  metrics.messages.Add({{"topic", topic_label(topic)}, {"event", event}}).Increment();
}

}  // namespace bzzz::p2p::pubsub
