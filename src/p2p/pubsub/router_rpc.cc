// What peers send: subscriptions, messages and control (IHAVE, IWANT, GRAFT, PRUNE;
// IDONTWANT is parsed and ignored). Every function here runs with Impl::mutex held.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "p2p/pubsub/router_impl.h"

namespace bzzz::p2p::pubsub {

namespace {
constexpr size_t kMaxIwantAnswers = 3;  // times one message is sent to one peer on IWANT
constexpr size_t kMaxPruneBackoffSeconds = 3600;
}  // namespace

double Router::Impl::score(const PeerState& ps) const {
  double excess = std::max(0.0, ps.behaviour_penalty - opt.behaviour_penalty_threshold);
  // Invalid messages weigh -1 each, squared: a handful of forgeries graylists a peer,
  // a peer that once forwarded a message another validator disliked does not.
  return opt.behaviour_penalty_weight * excess * excess - ps.invalid * ps.invalid;
}

bool Router::Impl::in_backoff(const std::string& topic, const PeerId& peer, std::chrono::milliseconds slack) const {
  auto t = backoff.find(topic);
  if (t == backoff.end()) return false;
  auto p = t->second.find(peer);
  return p != t->second.end() && Clock::now() < p->second + slack;
}

void Router::Impl::add_prune(pb::ControlMessage& control, const PeerId& peer, const std::string& topic,
                             std::chrono::milliseconds duration) {
  auto* prune = control.add_prune();
  prune->set_topicid(topic);
  prune->set_backoff(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(duration).count()));
  auto& until = backoff[topic][peer];
  until = std::max(until, Clock::now() + duration);
  metrics.control.Add({{"type", "prune"}, {"direction", "out"}}).Increment();
}

void Router::Impl::handle_rpc(const PeerId& peer, std::span<const uint8_t> bytes) {
  auto decoded = decode_rpc(bytes);
  auto& ps = peers[peer];
  if (!decoded) {
    rpc_error("malformed_rpc");
    ps.invalid += 1;
    spdlog::debug("pubsub: {} sent a malformed RPC ({} bytes)", peer.to_string(), bytes.size());
    return;
  }
  if (score(ps) < opt.graylist_threshold) {
    rpc_error("graylisted");
    return;
  }
  const pb::RPC& rpc = *decoded;
  if (static_cast<size_t>(rpc.subscriptions_size()) > opt.max_topics_per_rpc) {
    rpc_error("too_many_subscriptions");
    ps.invalid += 1;
    return;
  }
  pb::RPC reply;
  auto& control = *reply.mutable_control();
  for (const auto& sub : rpc.subscriptions()) {
    const std::string& topic = sub.topicid();
    if (topic.empty()) continue;
    if (sub.subscribe()) {
      if (ps.topics.size() >= opt.max_topics_per_rpc && !ps.topics.count(topic)) {
        rpc_error("too_many_topics");
        continue;
      }
      topic_peers[topic].insert(peer);
      ps.topics.insert(topic);
      // As js does: a peer announcing a topic whose mesh is short joins it at once.
      auto m = local_topics.count(topic) ? mesh.end() : mesh.find(topic);
      if (m != mesh.end() && m->second.size() < opt.d_lo && !m->second.count(peer) && ps.outbox &&
          score(ps) >= 0 && !in_backoff(topic, peer, opt.heartbeat_interval)) {
        m->second.insert(peer);
        control.add_graft()->set_topicid(topic);
        metrics.control.Add({{"type", "graft"}, {"direction", "out"}}).Increment();
      }
    } else {
      ps.topics.erase(topic);
      if (auto tp = topic_peers.find(topic); tp != topic_peers.end()) {
        tp->second.erase(peer);
        if (tp->second.empty()) topic_peers.erase(tp);
      }
      if (auto m = mesh.find(topic); m != mesh.end()) m->second.erase(peer);
      if (auto f = fanout.find(topic); f != fanout.end()) f->second.erase(peer);
    }
  }
  for (const auto& msg : rpc.publish()) on_message(peer, ps, msg);
  if (rpc.has_control()) {
    const auto& c = rpc.control();
    for (const auto& ihave : c.ihave()) on_ihave(peer, ps, ihave, control);
    for (const auto& iwant : c.iwant()) on_iwant(peer, iwant, reply);
    for (const auto& graft : c.graft()) on_graft(peer, ps, graft.topicid(), control);
    for (const auto& prune : c.prune()) on_prune(peer, prune);
    if (c.idontwant_size() > 0) metrics.control.Add({{"type", "idontwant"}, {"direction", "in"}}).Increment();
  }
  if (control.ihave_size() == 0 && control.iwant_size() == 0 && control.graft_size() == 0 &&
      control.prune_size() == 0) {
    reply.clear_control();
  }
  if (reply.publish_size() > 0 || reply.has_control()) send(peer, reply);
}

void Router::Impl::on_message(const PeerId& peer, PeerState& ps, const pb::Message& msg) {
  const std::string& topic = msg.topic();
  if (msg.data().size() > opt.max_message_size) {
    metrics.rejected.Add({{"topic", topic_label(topic)}, {"reason", "too_large"}}).Increment();
    ps.invalid += 1;
    return;
  }
  // A copy of a message seen already costs no signature check. (A forgery carrying a
  // real message's id is never marked seen, so it cannot shadow the real one.)
  if (msg.has_seqno() && msg.seqno().size() == 8) {
    std::string id = msg.from() + msg.seqno();
    if (seen.contains(id)) {
      ps.promises.erase(id);
      count(topic, "duplicate");
      return;
    }
  }
  auto checked = check_message(msg);
  if (!checked) {
    metrics.rejected.Add({{"topic", topic_label(topic)}, {"reason", reason_label(checked.error())}}).Increment();
    spdlog::debug("pubsub: message from {} rejected: {}", peer.to_string(), checked.error().message());
    ps.invalid += 1;
    return;
  }
  ps.promises.erase(checked->id);
  if (!seen.add(checked->id, Clock::now())) {
    count(topic, "duplicate");
    return;
  }
  count(topic, "received");
  if (!subscribed(topic) || local_topics.count(topic)) {
    metrics.ignored.Add({{"topic", topic_label(topic)}, {"reason", "not_subscribed"}}).Increment();
    return;
  }
  Message app{checked->from, peer, topic, std::vector<uint8_t>(msg.data().begin(), msg.data().end()),
              checked->seqno, checked->id, false};
  if (checked->from == host.id()) {
    // Our own message coming back (another node relayed it): seen already unless we
    // restarted; never deliver it twice.
    metrics.ignored.Add({{"topic", topic_label(topic)}, {"reason", "own_message"}}).Increment();
    return;
  }
  if (auto v = validators.find(topic); v != validators.end()) {
    Validation verdict = v->second(app);
    if (verdict.verdict == Verdict::kReject) {
      metrics.rejected.Add({{"topic", topic_label(topic)}, {"reason", verdict.reason.empty() ? "validator" : verdict.reason}})
          .Increment();
      ps.invalid += 1;
      return;
    }
    if (verdict.verdict == Verdict::kIgnore) {
      metrics.ignored.Add({{"topic", topic_label(topic)}, {"reason", verdict.reason.empty() ? "validator" : verdict.reason}})
          .Increment();
      return;
    }
  }
  mcache.put(checked->id, msg);
  deliver(app);
  forward(msg, topic, peer, checked->from);
}

void Router::Impl::forward(const pb::Message& msg, const std::string& topic, const PeerId& source,
                           const PeerId& publisher) {
  auto m = mesh.find(topic);
  if (m == mesh.end()) return;
  pb::RPC rpc;
  *rpc.add_publish() = msg;
  std::vector<uint8_t> bytes;
  size_t sent = 0;
  for (const auto& p : m->second) {
    if (p == source || p == publisher) continue;
    auto it = peers.find(p);
    if (it == peers.end() || !it->second.outbox) continue;
    if (bytes.empty()) bytes = encode_rpc(rpc);
    send_bytes(p, bytes);
    ++sent;
  }
  if (sent > 0) {
    metrics.messages.Add({{"topic", topic_label(topic)}, {"event", "forwarded"}}).Increment(static_cast<double>(sent));
  }
}

void Router::Impl::on_ihave(const PeerId& /*peer*/, PeerState& ps, const pb::ControlIHave& ihave,
                            pb::ControlMessage& reply) {
  metrics.control.Add({{"type", "ihave"}, {"direction", "in"}}).Increment();
  if (score(ps) < opt.gossip_threshold) return;
  if (++ps.ihaves_this_tick > opt.max_ihave_messages) {
    rpc_error("ihave_flood");
    return;
  }
  if (!subscribed(ihave.topicid()) || local_topics.count(ihave.topicid())) return;
  std::vector<std::string> want;
  std::vector<std::string> promised;
  for (const auto& id : ihave.messageids()) {
    if (ps.ihave_ids_this_tick >= opt.max_ihave_length) {
      rpc_error("ihave_too_many_ids");
      break;
    }
    ++ps.ihave_ids_this_tick;
    std::string ours = canonical_id(id);
    if (ours != id) ps.js_ids = true;
    if (seen.contains(ours) || ps.promises.count(ours)) continue;
    want.push_back(id);  // asked for in the peer's own form
    promised.push_back(std::move(ours));
  }
  if (want.empty()) return;
  auto deadline = Clock::now() + opt.iwant_followup;
  auto* iwant = reply.add_iwant();
  for (size_t i = 0; i < want.size(); ++i) {
    iwant->add_messageids(want[i]);
    ps.promises[promised[i]] = deadline;
  }
  metrics.control.Add({{"type", "iwant"}, {"direction", "out"}}).Increment();
}

void Router::Impl::on_iwant(const PeerId& peer, const pb::ControlIWant& iwant, pb::RPC& reply) {
  metrics.control.Add({{"type", "iwant"}, {"direction", "in"}}).Increment();
  auto it = peers.find(peer);
  if (it == peers.end() || score(it->second) < opt.gossip_threshold) return;
  std::string key(peer.bytes().begin(), peer.bytes().end());
  size_t answered = 0;
  for (const auto& id : iwant.messageids()) {
    if (answered >= opt.max_ihave_length) {
      rpc_error("iwant_too_many_ids");
      break;
    }
    const pb::Message* msg = mcache.get(canonical_id(id));
    if (!msg) continue;
    if (mcache.count_request(id, key) > kMaxIwantAnswers) continue;
    *reply.add_publish() = *msg;
    ++answered;
  }
}

void Router::Impl::on_graft(const PeerId& peer, PeerState& ps, const std::string& topic,
                            pb::ControlMessage& reply) {
  metrics.control.Add({{"type", "graft"}, {"direction", "in"}}).Increment();
  auto m = mesh.find(topic);
  // v1.1: a GRAFT for a topic we are not in is ignored (a local topic included).
  if (m == mesh.end() || local_topics.count(topic)) return;
  if (m->second.count(peer)) return;
  auto b = backoff.find(topic);
  if (b != backoff.end()) {
    auto p = b->second.find(peer);
    if (p != b->second.end() && Clock::now() < p->second) {
      // Grafting while we told it to back off: a behaviour penalty, doubled when it
      // comes right after the prune (a flood).
      ps.behaviour_penalty += 1;
      if (Clock::now() + opt.prune_backoff < p->second + opt.graft_flood_threshold) ps.behaviour_penalty += 1;
      rpc_error("graft_in_backoff");
      add_prune(reply, peer, topic, opt.prune_backoff);
      return;
    }
  }
  if (score(ps) < 0) {
    add_prune(reply, peer, topic, opt.prune_backoff);
    return;
  }
  if (m->second.size() >= opt.d_hi && !ps.outbound_conn) {
    add_prune(reply, peer, topic, opt.prune_backoff);
    return;
  }
  m->second.insert(peer);
}

void Router::Impl::on_prune(const PeerId& peer, const pb::ControlPrune& prune) {
  metrics.control.Add({{"type", "prune"}, {"direction", "in"}}).Increment();
  const std::string& topic = prune.topicid();
  spdlog::debug("pubsub: {} pruned us from {} (backoff {} s)", peer.to_string(), topic, prune.backoff());
  if (auto m = mesh.find(topic); m != mesh.end()) m->second.erase(peer);
  uint64_t secs = prune.has_backoff() && prune.backoff() > 0 ? std::min<uint64_t>(prune.backoff(), kMaxPruneBackoffSeconds)
                                                             : static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(opt.prune_backoff).count());
  auto& until = backoff[topic][peer];
  until = std::max(until, Clock::now() + std::chrono::seconds(secs));
}

}  // namespace bzzz::p2p::pubsub
