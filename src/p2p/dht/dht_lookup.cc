// Iterative lookups and the operations built on them. A lookup runs on a strand of its
// own: its requests are coroutines on that strand that leave their reply in the
// lookup's state and wake it, so the state needs no lock.
#include <algorithm>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "p2p/dht/dht.h"
#include "p2p/dht/dht_internal.h"

namespace bzzz::p2p::dht {

namespace asio = boost::asio;

namespace {

struct Candidate {
  PeerId id;
  int depth = 1;
  enum class State { kNew, kWaiting, kDone, kFailed } state = State::kNew;
};

struct LookupState {
  explicit LookupState(const asio::any_io_executor& ex) : wake(ex) {}
  asio::steady_timer wake;
  std::map<KadId, Candidate> by_distance;  // distance to the target -> peer
  struct Reply {
    KadId distance;
    Result<Message> result;
  };
  std::vector<Reply> replies;
  size_t in_flight = 0;
};

}  // namespace

Status Dht::usable() const {
  if (!started_ || stopped_) return make_error(ErrorCode::kUnavailable, "dht: not running");
  return ok();
}

asio::awaitable<Dht::Outcome> Dht::lookup(Bytes key, MessageType type, OnResponse on_response) {
  auto strand = asio::make_strand(io_);
  auto coro = lookup_here(std::move(key), type, std::move(on_response));
  co_return co_await asio::co_spawn(strand, std::move(coro), asio::use_awaitable);
}

asio::awaitable<Dht::Outcome> Dht::lookup_here(Bytes key, MessageType type, OnResponse on_response) {
  auto self = shared_from_this();
  auto ex = co_await asio::this_coro::executor;
  const auto t0 = std::chrono::steady_clock::now();
  const auto deadline = t0 + options_.lookup_timeout;
  const KadId target = kad_id(key);
  auto st = std::make_shared<LookupState>(ex);
  Outcome out;
  // Whether `id` is new to this lookup (then it is a candidate now).
  auto add = [&](const PeerId& id, int depth) {
    if (id == host_->id()) return false;
    return st->by_distance.try_emplace(distance(kad_id(id), target), Candidate{id, depth}).second;
  };
  for (auto& p : rt_.closest(target, options_.k)) add(p, 1);
  Message request;
  request.type = type;
  request.key = key;
  int found_depth = -1;
  bool stop = false;
  for (;;) {
    auto replies = std::move(st->replies);
    st->replies.clear();
    for (auto& reply : replies) {
      --st->in_flight;
      Candidate& c = st->by_distance.at(reply.distance);
      if (!reply.result) {
        c.state = Candidate::State::kFailed;
        ++out.stats.failed;
        continue;
      }
      c.state = Candidate::State::kDone;
      for (auto& p : reply.result->closer) {
        // The first address list heard for a peer is the one dialed.
        if (add(p.id, c.depth + 1) && !p.addrs.empty()) host_->peer_store().add_addrs(p.id, p.addrs);
      }
      if (!stop && on_response) {
        Verdict v = on_response(c.id, *reply.result);
        if (v != Verdict::kContinue && found_depth < 0) found_depth = c.depth;
        if (v == Verdict::kStop) stop = true;
      }
    }
    if (stop || stopped_ || std::chrono::steady_clock::now() >= deadline) break;
    // Ask the closest not yet asked among the k closest still standing; done when all
    // of those have answered.
    size_t counted = 0;
    bool all_done = true;
    for (auto& [dist, c] : st->by_distance) {
      if (c.state == Candidate::State::kFailed) continue;
      if (counted++ == options_.k) break;
      if (c.state != Candidate::State::kDone) all_done = false;
      if (c.state != Candidate::State::kNew || st->in_flight >= options_.alpha) continue;
      c.state = Candidate::State::kWaiting;
      ++st->in_flight;
      ++out.stats.queried;
      auto worker = [self, st, peer = c.id, distance = dist, request]() -> asio::awaitable<void> {
        auto r = co_await self->rpc(peer, request, true);
        st->replies.push_back(LookupState::Reply{distance, std::move(r)});
        st->wake.cancel();
      };
      asio::co_spawn(ex, std::move(worker), asio::detached);
    }
    if (all_done || st->in_flight == 0) break;
    st->wake.expires_at(deadline);
    co_await st->wake.async_wait(kTuple);
  }
  int closest_depth = 0;
  for (auto& [dist, c] : st->by_distance) {
    if (c.state != Candidate::State::kDone) continue;
    if (out.closest.empty()) closest_depth = c.depth;
    out.closest.push_back(c.id);
    if (out.closest.size() == options_.k) break;
  }
  out.stats.hops = found_depth >= 0 ? found_depth : closest_depth;
  out.stats.latency =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  out.stats.at = Clock::now();
  metrics_->lookup_seconds.Observe(std::chrono::duration<double>(out.stats.latency).count());
  metrics_->lookup_hops.Observe(out.stats.hops);
  {
    std::lock_guard lock(mutex_);
    last_lookup_ = out.stats;
  }
  co_return out;
}

// --- operations ----------------------------------------------------------------------

asio::awaitable<Result<std::vector<PeerId>>> Dht::closest_peers(Bytes key) {
  auto self = shared_from_this();
  if (auto st = usable(); !st) co_return tl::unexpected(st.error());
  if (rt_.size() == 0) co_return make_error(ErrorCode::kUnavailable, "dht: no peers in the routing table to ask");
  OnResponse none;
  auto out = co_await lookup(std::move(key), MessageType::kFindNode, std::move(none));
  co_return std::move(out.closest);
}

asio::awaitable<Result<std::vector<Multiaddr>>> Dht::find_peer(PeerId peer) {
  auto self = shared_from_this();
  if (auto st = usable(); !st) co_return tl::unexpected(st.error());
  if (host_->connection(peer)) {
    auto addrs = host_->peer_store().addrs(peer);
    if (!addrs.empty()) co_return addrs;
  }
  if (rt_.size() == 0) co_return make_error(ErrorCode::kUnavailable, "dht: no peers in the routing table to ask");
  std::vector<Multiaddr> found;
  OnResponse on_response = [&](const PeerId& from, const Message& m) {
    if (from == peer) {
      found = host_->peer_store().addrs(peer);
      return Verdict::kStop;
    }
    for (const auto& p : m.closer) {
      if (p.id == peer && !p.addrs.empty()) {
        found = p.addrs;
        return Verdict::kStop;
      }
    }
    return Verdict::kContinue;
  };
  Bytes key = peer.bytes();
  co_await lookup(std::move(key), MessageType::kFindNode, std::move(on_response));
  if (found.empty()) {
    co_return make_error(ErrorCode::kNotFound, fmt::format("dht: no peer knows the addresses of {}", peer.to_string()));
  }
  co_return found;
}

asio::awaitable<Result<Bytes>> Dht::get_value(std::string key) {
  auto self = shared_from_this();
  if (auto st = usable(); !st) co_return tl::unexpected(st.error());
  auto ns = namespace_of(key);
  if (!ns || !validators_.has(*ns)) {
    co_return make_error(ErrorCode::kInvalidArgument, fmt::format("dht: no validator for the key {}", quoted(key)));
  }
  std::vector<Bytes> values;
  std::vector<PeerId> holders;
  if (auto s = store()) {
    if (auto rec = s->get_record(key, Clock::now()); rec && validators_.validate(key, rec->value)) {
      values.push_back(std::move(rec->value));
      holders.push_back(host_->id());
    }
  }
  const Bytes key_bytes = to_bytes(key);
  const size_t quorum = std::max<size_t>(options_.get_value_quorum, 1);
  OnResponse on_response = [&](const PeerId& from, const Message& m) {
    if (!m.record) return Verdict::kContinue;
    if (m.record->key != key_bytes || !validators_.validate(key, m.record->value)) {
      metrics_->error("invalid_record_received");
      return Verdict::kContinue;
    }
    values.push_back(m.record->value);
    holders.push_back(from);
    return values.size() >= quorum ? Verdict::kStop : Verdict::kFound;
  };
  if (rt_.size() > 0) {
    Bytes lookup_key = key_bytes;
    co_await lookup(std::move(lookup_key), MessageType::kGetValue, std::move(on_response));
  }
  if (values.empty()) co_return make_error(ErrorCode::kNotFound, fmt::format("dht: no value for {}", quoted(key)));
  auto best = validators_.select(key, values);
  if (!best) co_return tl::unexpected(best.error());
  // Peers holding a worse value get the best (the spec's entry correction).
  std::vector<PeerId> outdated;
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] != values[*best] && holders[i] != host_->id()) outdated.push_back(holders[i]);
  }
  if (!outdated.empty()) {
    Message put;
    put.type = MessageType::kPutValue;
    put.key = key_bytes;
    put.record = Record{key_bytes, values[*best], rfc3339(Clock::now())};
    auto correct = [self, outdated = std::move(outdated), put = std::move(put)]() mutable -> asio::awaitable<void> {
      co_await self->send_all(std::move(outdated), std::move(put), true);
    };
    asio::co_spawn(io_, std::move(correct), asio::detached);
  }
  co_return values[*best];
}

asio::awaitable<size_t> Dht::put_to_closest(std::string key, Bytes value) {
  Bytes key_bytes = to_bytes(key);
  OnResponse none;
  auto out = co_await lookup(key_bytes, MessageType::kFindNode, std::move(none));
  if (out.closest.empty()) co_return 0;
  Message put;
  put.type = MessageType::kPutValue;
  put.key = key_bytes;
  put.record = Record{key_bytes, std::move(value), rfc3339(Clock::now())};
  co_return co_await send_all(std::move(out.closest), std::move(put), true);
}

asio::awaitable<Result<size_t>> Dht::put_value(std::string key, Bytes value) {
  auto self = shared_from_this();
  if (auto st = usable(); !st) co_return tl::unexpected(st.error());
  if (auto st = validators_.validate(key, value); !st) co_return tl::unexpected(st.error());
  auto s = store();
  if (!s) co_return make_error(ErrorCode::kUnavailable, "dht: not running");
  if (auto old = s->get_record(key, Clock::now()); old && old->value != value) {
    std::vector<Bytes> both{value, old->value};
    auto best = validators_.select(key, both);
    if (best && *best != 0) {
      co_return make_error(ErrorCode::kInvalidArgument,
                           fmt::format("dht: {} holds a better value than the one put", quoted(key)));
    }
  }
  if (auto st = s->put_record(key, StoredRecord{value, Clock::now(), true}); !st) co_return tl::unexpected(st.error());
  metrics_->records.Set(static_cast<double>(s->record_count()));
  if (rt_.size() == 0) co_return size_t{0};
  co_return co_await put_to_closest(std::move(key), std::move(value));
}

asio::awaitable<size_t> Dht::provide_to_closest(Bytes key) {
  auto addrs = host_->announced_addrs();
  if (addrs.empty()) co_return 0;
  OnResponse none;
  auto out = co_await lookup(key, MessageType::kFindNode, std::move(none));
  if (out.closest.empty()) co_return 0;
  Message add;
  add.type = MessageType::kAddProvider;
  add.key = std::move(key);
  add.providers.push_back(PeerInfo{host_->id(), std::move(addrs), true});
  co_return co_await send_all(std::move(out.closest), std::move(add), false);
}

asio::awaitable<Result<size_t>> Dht::provide(Bytes key, ProvideOptions options) {
  auto self = shared_from_this();
  if (auto st = usable(); !st) co_return tl::unexpected(st.error());
  if (key.empty() || key.size() > options_.max_provider_key_bytes) {
    co_return make_error(ErrorCode::kInvalidArgument, fmt::format("dht: a provider key has 1 to {} bytes, not {}",
                                                                  options_.max_provider_key_bytes, key.size()));
  }
  // js drops a provider without addresses: one that has none cannot provide.
  if (host_->announced_addrs().empty()) {
    co_return make_error(ErrorCode::kUnavailable, "dht: this node announces no address to provide under");
  }
  auto s = store();
  if (!s) co_return make_error(ErrorCode::kUnavailable, "dht: not running");
  bool keep = options.keep;
  if (!keep) {
    // An entry kept already (an explicit provide) is not turned into an expiring one.
    for (const auto& e : s->providers(key, Clock::now())) keep = keep || (e.peer == host_->id() && e.own);
  }
  if (auto st = s->add_provider(key, ProviderEntry{host_->id(), {}, Clock::now(), keep}); !st) {
    co_return tl::unexpected(st.error());
  }
  metrics_->providers.Set(static_cast<double>(s->provider_count()));
  if (rt_.size() == 0) co_return size_t{0};
  co_return co_await provide_to_closest(std::move(key));
}

asio::awaitable<Result<std::vector<ProviderInfo>>> Dht::find_providers(Bytes key, size_t limit) {
  auto self = shared_from_this();
  if (auto st = usable(); !st) co_return tl::unexpected(st.error());
  if (limit == 0) limit = SIZE_MAX;
  std::vector<ProviderInfo> found;
  std::set<PeerId> seen;
  if (auto s = store()) {
    for (auto& e : s->providers(key, Clock::now(), limit)) {
      auto addrs = e.peer == host_->id() ? host_->announced_addrs() : std::move(e.addrs);
      seen.insert(e.peer);
      found.push_back(ProviderInfo{std::move(e.peer), std::move(addrs)});
    }
  }
  if (found.size() >= limit || rt_.size() == 0) co_return found;
  OnResponse on_response = [&](const PeerId&, const Message& m) {
    bool any = false;
    for (const auto& p : m.providers) {
      if (!seen.insert(p.id).second) continue;
      if (!p.addrs.empty() && p.id != host_->id()) host_->peer_store().add_addrs(p.id, p.addrs);
      found.push_back(ProviderInfo{p.id, p.addrs});
      any = true;
      if (found.size() >= limit) return Verdict::kStop;
    }
    return any ? Verdict::kFound : Verdict::kContinue;
  };
  co_await lookup(std::move(key), MessageType::kGetProviders, std::move(on_response));
  if (found.size() > limit) found.resize(limit);
  co_return found;
}

asio::awaitable<Status> Dht::refresh() {
  auto self = shared_from_this();
  if (auto st = usable(); !st) co_return st;
  if (rt_.size() == 0) co_return make_error(ErrorCode::kUnavailable, "dht: no peers in the routing table to refresh from");
  Bytes me = host_->id().bytes();
  OnResponse none;
  co_await lookup(std::move(me), MessageType::kFindNode, std::move(none));
  int deepest = std::min(rt_.max_bucket(), kMaxRefreshCpl);
  for (int cpl = 0; cpl <= deepest && !stopped_; ++cpl) {
    Bytes key = random_key_with_cpl(rt_.self(), cpl);
    OnResponse nothing;
    co_await lookup(std::move(key), MessageType::kFindNode, std::move(nothing));
  }
  spdlog::debug("dht: refreshed {} buckets; {} peers in the routing table", deepest + 1, rt_.size());
  co_return ok();
}

}  // namespace bzzz::p2p::dht
