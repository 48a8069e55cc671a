// ContentRouter: provider lookups (HAVE to connected peers, then the DHT) and fetches
// through them.
#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "content/routing/router.h"
#include "content/routing/router_internal.h"

namespace bzzz::routing {

namespace asio = boost::asio;

namespace {

bool contains(const std::vector<p2p::PeerId>& peers, const p2p::PeerId& peer) {
  return std::find(peers.begin(), peers.end(), peer) != peers.end();
}

}  // namespace

// One ask_have(): its answers, touched only on `strand`. `done` is cancelled by the
// last answer; answers after the timeout are dropped.
struct ContentRouter::Gather {
  explicit Gather(asio::any_io_executor ex) : strand(asio::make_strand(ex)), done(strand) {}
  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer done;
  size_t waiting = 0;
  bool closed = false;
  Answers answers;
};

asio::awaitable<void> ContentRouter::have_one(std::shared_ptr<exchange::Exchange> exchange,
                                              std::shared_ptr<Gather> gather, p2p::PeerId peer, Hash hash) {
  std::vector<Hash> hashes{hash};
  auto answer = co_await exchange->have(peer, std::move(hashes));
  if (gather->closed) co_return;
  if (answer && answer->size() == 1 && answer->front()) {
    gather->answers.have.emplace_back(peer, *answer->front());
  } else if (answer) {
    gather->answers.denied.push_back(peer);
  } else {
    spdlog::debug("routing: HAVE to {}: {}", peer.to_string(), answer.error().message());
  }
  if (--gather->waiting == 0) gather->done.cancel();
}

asio::awaitable<ContentRouter::Answers> ContentRouter::ask_have(Hash hash, std::vector<p2p::PeerId> peers) {
  if (peers.empty()) co_return Answers{};
  auto gather = std::make_shared<Gather>(host_->io().get_executor());
  gather->waiting = peers.size();
  // On the gather's strand: the answers and the timer are touched there only.
  auto run = [](std::shared_ptr<exchange::Exchange> ex, std::shared_ptr<Gather> g, std::vector<p2p::PeerId> ps,
                Hash h, std::chrono::milliseconds timeout) -> asio::awaitable<Answers> {
    for (auto& p : ps) asio::co_spawn(g->strand, have_one(ex, g, p, h), asio::detached);
    g->done.expires_after(timeout);
    auto [ec] = co_await g->done.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
    g->closed = true;
    co_return std::move(g->answers);
  };
  auto op = run(exchange_, gather, std::move(peers), hash, options_.have_timeout);
  co_return co_await asio::co_spawn(gather->strand, std::move(op), asio::use_awaitable);
}

asio::awaitable<Result<Found>> ContentRouter::find(Hash hash, size_t limit, bool confirm) {
  auto self = shared_from_this();
  if (stopped_) co_return make_error(ErrorCode::kUnavailable, "routing: stopped");
  Found found;
  // Connected peers that speak the blob protocol (and were not caught lying lately).
  std::vector<p2p::PeerId> connected;
  for (const auto& rec : host_->peer_store().all()) {
    if (rec.connections == 0 || rec.id == host_->id() || exchange_->avoided(rec.id)) continue;
    if (std::find(rec.protocols.begin(), rec.protocols.end(), exchange::kProtocol) == rec.protocols.end()) continue;
    connected.push_back(rec.id);
    if (connected.size() >= options_.max_have_peers) break;
  }
  found.asked = connected.size();
  auto answers = co_await ask_have(hash, std::move(connected));
  std::vector<p2p::PeerId> denied = std::move(answers.denied);
  for (auto& [peer, size] : answers.have) {
    found.providers.push_back(peer);
    if (!found.size) found.size = size;
  }
  if (dht_ && dht_->running() && (limit == 0 || found.providers.size() < limit)) {
    found.dht = true;
    auto mh = hash.multihash();
    p2p::dht::Bytes key(mh.begin(), mh.end());
    auto listed = co_await dht_->find_providers(std::move(key), limit);
    if (!listed) {
      spdlog::debug("routing: DHT providers of {}: {}", hash.hex(), listed.error().message());
    } else {
      std::vector<p2p::PeerId> more;
      for (const auto& p : *listed) {
        if (p.id == host_->id() || contains(found.providers, p.id) || contains(denied, p.id) || contains(more, p.id)) {
          continue;
        }
        // Where to reach it (the lookup adds what peers said; entries stored here may
        // carry addresses the peer store has not seen).
        if (!p.addrs.empty()) host_->peer_store().add_addrs(p.id, p.addrs);
        more.push_back(p.id);
      }
      if (confirm && !more.empty()) {
        found.asked += more.size();
        auto confirmed = co_await ask_have(hash, std::move(more));
        for (auto& [peer, size] : confirmed.have) {
          found.providers.push_back(peer);
          if (!found.size) found.size = size;
        }
      } else {
        found.providers.insert(found.providers.end(), more.begin(), more.end());
      }
    }
  }
  if (limit != 0 && found.providers.size() > limit) found.providers.resize(limit);
  metrics_->lookup(found.providers.empty() ? "not_found" : "found");
  co_return found;
}

asio::awaitable<Result<exchange::FetchResult>> ContentRouter::fetch(Hash hash, exchange::FetchOptions options) {
  auto self = shared_from_this();
  auto found = co_await find(hash, options_.providers_per_fetch, false);
  if (!found) co_return tl::unexpected(found.error());
  if (found->providers.empty()) {
    co_return make_error(ErrorCode::kNotFound,
                         fmt::format("no provider of {} was found (asked {} connected peers{})", hash.hex(),
                                     found->asked, found->dht ? " and the DHT" : "; this node has no DHT"));
  }
  auto providers = std::move(found->providers);
  auto got = co_await exchange_->fetch(hash, std::move(providers), options);
  if (got) announce(hash);
  co_return got;
}

}  // namespace bzzz::routing
