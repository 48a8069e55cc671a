// The heartbeat: score decay and broken promises, mesh maintenance (D_lo/D/D_hi, D_out),
// fanout expiry, IHAVE gossip to peers outside the mesh, the message cache's shift and
// the seen cache's expiry, then the gauges.
#include <algorithm>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "p2p/pubsub/router_impl.h"

namespace bzzz::p2p::pubsub {
namespace asio = boost::asio;

asio::awaitable<void> Router::Impl::heartbeat_loop() {
  auto timer = heartbeat_timer;
  timer->expires_after(opt.heartbeat_initial_delay);
  for (;;) {
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    std::lock_guard lock(mutex);
    if (stopped) co_return;
    heartbeat();
    timer->expires_after(opt.heartbeat_interval);
  }
}

std::vector<PeerId> Router::Impl::candidates(const std::string& topic, const std::set<PeerId>& exclude,
                                             double min_score) {
  std::vector<PeerId> out;
  auto tp = topic_peers.find(topic);
  if (tp == topic_peers.end()) return out;
  for (const auto& p : tp->second) {
    if (exclude.count(p)) continue;
    auto it = peers.find(p);
    if (it == peers.end() || !it->second.outbox) continue;
    if (score(it->second) < min_score) continue;
    if (in_backoff(topic, p, opt.heartbeat_interval)) continue;
    out.push_back(p);
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

void Router::Impl::heartbeat() {
  ++ticks;
  auto now = Clock::now();
  std::map<PeerId, pb::ControlMessage> control;
  auto graft = [&](const PeerId& p, const std::string& topic) {
    control[p].add_graft()->set_topicid(topic);
    metrics.control.Add({{"type", "graft"}, {"direction", "out"}}).Increment();
  };

  // Scores: decay, broken IWANT promises, per-heartbeat counters.
  for (auto& [p, ps] : peers) {
    ps.behaviour_penalty *= opt.behaviour_penalty_decay;
    if (ps.behaviour_penalty < 0.01) ps.behaviour_penalty = 0;
    ps.invalid *= opt.behaviour_penalty_decay;
    if (ps.invalid < 0.01) ps.invalid = 0;
    bool broken = false;
    for (auto it = ps.promises.begin(); it != ps.promises.end();) {
      if (it->second <= now) {
        broken = true;
        it = ps.promises.erase(it);
      } else {
        ++it;
      }
    }
    if (broken) ps.behaviour_penalty += 1;
    ps.ihaves_this_tick = 0;
    ps.ihave_ids_this_tick = 0;
  }

  for (auto& [topic, m] : mesh) {
    if (local_topics.count(topic)) continue;
    // Peers that went bad or lost their stream leave the mesh.
    for (auto it = m.begin(); it != m.end();) {
      auto ps = peers.find(*it);
      if (ps == peers.end() || !ps->second.outbox) {
        it = m.erase(it);
      } else if (score(ps->second) < 0) {
        add_prune(control[*it], *it, topic, opt.prune_backoff);
        it = m.erase(it);
      } else {
        ++it;
      }
    }
    if (m.size() < opt.d_lo) {
      for (const auto& p : candidates(topic, m, 0.0)) {
        if (m.size() >= opt.d) break;
        m.insert(p);
        graft(p, topic);
      }
    }
    if (m.size() > opt.d_hi) {
      // Keep D: the best-scored d_score, then at least d_out on outbound connections,
      // then the rest at random.
      std::vector<PeerId> all(m.begin(), m.end());
      std::shuffle(all.begin(), all.end(), rng);
      std::stable_sort(all.begin(), all.end(), [&](const PeerId& a, const PeerId& b) {
        return score(peers.at(a)) > score(peers.at(b));
      });
      std::vector<PeerId> keep(all.begin(), all.begin() + static_cast<ptrdiff_t>(std::min(opt.d_score, all.size())));
      std::vector<PeerId> rest(all.begin() + static_cast<ptrdiff_t>(keep.size()), all.end());
      auto outbound = [&](const PeerId& p) { return peers.at(p).outbound_conn; };
      size_t out_kept = static_cast<size_t>(std::count_if(keep.begin(), keep.end(), outbound));
      std::stable_partition(rest.begin(), rest.end(), outbound);
      for (const auto& p : rest) {
        if (keep.size() >= opt.d) break;
        if (out_kept < opt.d_out && !outbound(p)) continue;
        if (outbound(p)) ++out_kept;
        keep.push_back(p);
      }
      for (const auto& p : rest) {
        if (keep.size() >= opt.d) break;
        if (std::find(keep.begin(), keep.end(), p) == keep.end()) keep.push_back(p);
      }
      std::set<PeerId> kept(keep.begin(), keep.end());
      for (const auto& p : all) {
        if (!kept.count(p)) add_prune(control[p], p, topic, opt.prune_backoff);
      }
      m = std::move(kept);
    }
    if (m.size() >= opt.d_lo) {
      size_t out_count = static_cast<size_t>(
          std::count_if(m.begin(), m.end(), [&](const PeerId& p) { return peers.at(p).outbound_conn; }));
      if (out_count < opt.d_out) {
        for (const auto& p : candidates(topic, m, 0.0)) {
          if (out_count >= opt.d_out) break;
          if (!peers.at(p).outbound_conn) continue;
          m.insert(p);
          graft(p, topic);
          ++out_count;
        }
      }
    }
  }

  // Fanout: forget topics not published to for fanout_ttl; keep the others at D.
  for (auto it = fanout_last.begin(); it != fanout_last.end();) {
    if (now - it->second > opt.fanout_ttl) {
      fanout.erase(it->first);
      it = fanout_last.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [topic, f] : fanout) {
    for (auto it = f.begin(); it != f.end();) {
      auto tp = topic_peers.find(topic);
      bool still = tp != topic_peers.end() && tp->second.count(*it) && peers.count(*it) && peers.at(*it).outbox;
      it = still ? std::next(it) : f.erase(it);
    }
    if (f.size() < opt.d) {
      for (const auto& p : candidates(topic, f, opt.publish_threshold)) {
        if (f.size() >= opt.d) break;
        f.insert(p);
      }
    }
  }

  // Gossip: IHAVE of the recent windows to peers outside the mesh (or fanout).
  auto gossip = [&](const std::string& topic, const std::set<PeerId>& inside) {
    auto ids = mcache.gossip_ids(topic);
    if (ids.empty()) return;
    auto others = candidates(topic, inside, opt.gossip_threshold);
    size_t n = std::max(opt.d_lazy, static_cast<size_t>(opt.gossip_factor * static_cast<double>(others.size())));
    if (ids.size() > opt.max_ihave_length) {
      std::shuffle(ids.begin(), ids.end(), rng);
      ids.resize(opt.max_ihave_length);
    }
    for (size_t i = 0; i < others.size() && i < n; ++i) {
      auto* ihave = control[others[i]].add_ihave();
      ihave->set_topicid(topic);
      bool js = peers.at(others[i]).js_ids;
      for (const auto& id : ids) {
        const pb::Message* msg = js ? mcache.get(id) : nullptr;
        ihave->add_messageids(msg ? js_message_id(id, *msg) : id);
      }
      metrics.control.Add({{"type", "ihave"}, {"direction", "out"}}).Increment();
    }
  };
  for (const auto& [topic, m] : mesh) {
    if (!local_topics.count(topic)) gossip(topic, m);
  }
  for (const auto& [topic, f] : fanout) gossip(topic, f);

  for (auto& [p, c] : control) {
    pb::RPC rpc;
    *rpc.mutable_control() = std::move(c);
    send(p, rpc);
  }

  mcache.shift();
  seen.expire(now);
  for (auto& [topic, per_peer] : backoff) {
    for (auto it = per_peer.begin(); it != per_peer.end();) {
      it = it->second + opt.heartbeat_interval < now ? per_peer.erase(it) : std::next(it);
    }
  }
  for (const auto& [topic, m] : mesh) {
    metrics.mesh_peers.Add({{"topic", topic_label(topic)}}).Set(static_cast<double>(m.size()));
    auto tp = topic_peers.find(topic);
    metrics.topic_peers.Add({{"topic", topic_label(topic)}}).Set(tp == topic_peers.end() ? 0.0 : static_cast<double>(tp->second.size()));
  }
  metrics.peers.Set(static_cast<double>(peers.size()));
}

}  // namespace bzzz::p2p::pubsub
