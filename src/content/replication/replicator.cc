// The Replicator's lifecycle, metrics, status, put-time pushes, replica queries and
// the scrub. The repair round is in repair.cc.
#include "content/replication/replicator.h"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/async/blocking.h"
#include "base/async/parallel.h"
#include "content/replication/placement.h"
#include "content/replication/replication_internal.h"

namespace bzzz::replication {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::shared_ptr<Replicator> Replicator::create(p2p::Host& host, store::Store& store, exchange::Exchange& exchange,
                                               asio::thread_pool& workers, ReplicationOptions options,
                                               prometheus::Registry* metrics) {
  return std::shared_ptr<Replicator>(new Replicator(host, store, exchange, workers, std::move(options), metrics));
}

Replicator::Replicator(p2p::Host& host, store::Store& store, exchange::Exchange& exchange,
                       asio::thread_pool& workers, ReplicationOptions options, prometheus::Registry* metrics)
    : host_(&host),
      store_(&store),
      exchange_(&exchange),
      workers_(&workers),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(metrics)) {
  if (options_.factor == 0) options_.factor = 1;
}

Replicator::~Replicator() = default;

void Replicator::start() {
  {
    std::lock_guard lock(mutex_);
    if (started_ || stopped_) return;
    started_ = true;
  }
  std::weak_ptr<Replicator> weak = weak_from_this();
  exchange_->set_store_policy([weak](const Hash&, uint64_t size) {
    auto self = weak.lock();
    if (!self) return false;
    if (self->options_.capacity == 0) return true;
    return self->used_.load() + size <= self->options_.capacity;
  });
  exchange_->set_full_probe([weak] {
    auto self = weak.lock();
    return self && self->full();
  });
  // A blob peer joining or leaving changes who is responsible: a round soon.
  host_->subscribe([weak](const p2p::PeerEvent& e) {
    if (e.kind == p2p::PeerEvent::Kind::kConnected) return;  // identified comes next, with protocols
    if (auto self = weak.lock()) self->repair_soon();
  });
  auto strand = asio::make_strand(host_->io());
  wake_ = std::make_shared<asio::steady_timer>(strand);
  scrub_wake_ = std::make_shared<asio::steady_timer>(strand);
  {
    std::lock_guard lock(mutex_);
    next_round_ = Clock::now() + options_.settle_delay;
  }
  asio::co_spawn(strand, loop(shared_from_this()), asio::detached);
  if (options_.scrub_interval.count() > 0) asio::co_spawn(strand, scrub_loop(shared_from_this()), asio::detached);
}

void Replicator::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  for (auto& timer : {wake_, scrub_wake_}) {
    if (timer) asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  }
}

void Replicator::repair_soon() {
  std::shared_ptr<asio::steady_timer> timer;
  {
    std::lock_guard lock(mutex_);
    if (stopped_ || !started_) return;
    auto when = Clock::now() + options_.settle_delay;
    if (when >= next_round_) return;
    next_round_ = when;
    timer = wake_;
  }
  if (timer) asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

asio::awaitable<void> Replicator::loop(std::shared_ptr<Replicator> /*alive while it runs*/) {
  for (;;) {
    Clock::time_point when;
    {
      std::lock_guard lock(mutex_);
      if (stopped_) co_return;
      when = next_round_;
    }
    if (Clock::now() < when) {
      wake_->expires_at(when);
      auto [ec] = co_await wake_->async_wait(asio::as_tuple(asio::use_awaitable));
      (void)ec;  // cancelled: the time changed, or stop
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      next_round_ = Clock::now() + options_.repair_interval;
    }
    co_await repair_now();
  }
}

asio::awaitable<void> Replicator::scrub_loop(std::shared_ptr<Replicator> /*alive while it runs*/) {
  for (;;) {
    scrub_wake_->expires_after(options_.scrub_interval);
    auto [ec] = co_await scrub_wake_->async_wait(asio::as_tuple(asio::use_awaitable));
    {
      std::lock_guard lock(mutex_);
      if (stopped_) co_return;
    }
    if (ec) continue;
    auto report = co_await scrub();
    if (!report) spdlog::warn("replication: scrub failed: {}", report.error().message());
  }
}

asio::awaitable<RoundReport> Replicator::repair_now() {
  // One round at a time; a caller arriving during one waits for it, then runs its own.
  asio::steady_timer poll(co_await asio::this_coro::executor);
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (!round_running_) {
        round_running_ = true;
        break;
      }
    }
    poll.expires_after(std::chrono::milliseconds(20));
    co_await poll.async_wait(asio::use_awaitable);
  }
  RoundReport report = co_await round();
  {
    std::lock_guard lock(mutex_);
    round_running_ = false;
    last_round_ = report;
    ++rounds_;
  }
  metrics_->rounds.Increment();
  metrics_->round_seconds.Observe(report.seconds);
  co_return report;
}

asio::awaitable<Result<std::vector<bool>>> Replicator::store_on(p2p::PeerId peer, std::vector<Hash> hashes,
                                                                std::vector<uint64_t> sizes) {
  asio::steady_timer poll(co_await asio::this_coro::executor);
  for (auto wait = std::chrono::milliseconds(2);; wait = std::min(wait * 2, std::chrono::milliseconds(50))) {
    {
      std::lock_guard lock(mutex_);
      if (pushes_in_flight_ < options_.max_pushes) {
        ++pushes_in_flight_;
        break;
      }
    }
    poll.expires_after(wait);
    co_await poll.async_wait(asio::use_awaitable);
  }
  auto stored = co_await exchange_->ask_store(std::move(peer), std::move(hashes), std::move(sizes), true, true);
  std::lock_guard lock(mutex_);
  --pushes_in_flight_;
  co_return stored;
}

asio::awaitable<std::vector<std::optional<exchange::HaveAnswer>>> Replicator::ask_live(
    std::vector<p2p::PeerId> peers, std::vector<Hash> hashes) {
  std::vector<std::optional<exchange::HaveAnswer>> out(peers.size());
  std::vector<Task> tasks;
  for (size_t i = 0; i < peers.size(); ++i) {
    tasks.push_back([this, &peers, &hashes, &out, i]() -> asio::awaitable<void> {
      auto answer = co_await exchange_->have_detail(peers[i], hashes);
      if (!answer) co_return;
      note_full(peers[i], answer->full);
      out[i] = std::move(*answer);
    });
  }
  co_await run_parallel(std::move(tasks), 16);
  co_return out;
}

bool Replicator::full() const {
  return options_.capacity > 0 && used_.load() >= options_.capacity;
}

void Replicator::refresh_used() {
  if (auto stats = store_->stats()) used_.store(stats->counters.logical_bytes);
}

void Replicator::note_full(const p2p::PeerId& peer, bool is_full) {
  std::lock_guard lock(mutex_);
  if (is_full) {
    full_until_[peer] = Clock::now() + options_.repair_interval * 2;
  } else {
    full_until_.erase(peer);
  }
}

bool Replicator::known_full(const p2p::PeerId& peer) const {
  std::lock_guard lock(mutex_);
  auto it = full_until_.find(peer);
  return it != full_until_.end() && it->second > Clock::now();
}

ReplicationStatus Replicator::status() const {
  ReplicationStatus s;
  s.factor = options_.factor;
  s.capacity = options_.capacity;
  s.used = used_.load();
  s.full = full();
  std::lock_guard lock(mutex_);
  s.pinned = pinned_count_;
  s.pinned_bytes = pinned_bytes_;
  s.under_replicated = under_since_.size();
  if (!under_since_.empty()) {
    auto oldest = Clock::now();
    for (const auto& [h, since] : under_since_) oldest = std::min(oldest, since);
    s.under_replicated_for = std::chrono::duration<double>(Clock::now() - oldest).count();
  }
  s.queue = queue_;
  s.live_nodes = live_nodes_;
  s.round_running = round_running_;
  s.rounds = rounds_;
  s.last_round = last_round_;
  s.last_scrub = last_scrub_;
  return s;
}

asio::awaitable<Result<std::vector<p2p::PeerId>>> Replicator::replicate(Hash hash, uint64_t size, size_t wait_for) {
  auto self = shared_from_this();
  std::vector<p2p::PeerId> candidates = live_peers();
  candidates.push_back(host_->id());
  auto ranked = rank(hash, std::move(candidates));
  // The responsible nodes, full ones skipped (this one counts as one unless full).
  std::vector<p2p::PeerId> targets;
  std::vector<p2p::PeerId> spares;
  for (auto& p : ranked) {
    bool skip = p == host_->id() ? full() : known_full(p);
    if (skip) continue;
    (targets.size() < options_.factor ? targets : spares).push_back(p);
  }
  std::vector<p2p::PeerId> holders{host_->id()};
  std::vector<p2p::PeerId> ask;
  for (auto& p : targets) {
    if (p != host_->id()) ask.push_back(p);
  }
  // When this node is not among them, they get it all the same: this copy is surplus
  // and goes once they confirm theirs (repair rounds).
  auto run = [](std::shared_ptr<Replicator> r, Hash h, uint64_t sz, std::vector<p2p::PeerId> peers,
                std::vector<p2p::PeerId> spare, size_t need) -> asio::awaitable<Result<std::vector<p2p::PeerId>>> {
    std::vector<p2p::PeerId> held{r->host_->id()};
    std::vector<std::string> why;
    {
      std::lock_guard lock(r->mutex_);
      r->queue_ += peers.size();
      r->metrics_->queue.Set(static_cast<double>(r->queue_));
    }
    std::vector<p2p::PeerId> refused;
    // One STORE of the blob on `p`; what came of it is recorded (a full peer is noted).
    auto push_to = [r, h, sz, &held, &why, &refused](p2p::PeerId p) -> asio::awaitable<void> {
      std::vector<Hash> hashes{h};
      std::vector<uint64_t> sizes{sz};
      auto stored = co_await r->store_on(p, std::move(hashes), std::move(sizes));
      if (stored && !stored->empty() && stored->front()) {
        held.push_back(p);
        r->metrics_->push("ok");
      } else if (!stored && stored.error().code() == ErrorCode::kNoSpace) {
        r->note_full(p, true);
        refused.push_back(p);
        why.push_back(fmt::format("{}: full", p.to_string()));
        r->metrics_->push("full");
      } else {
        why.push_back(fmt::format("{}: {}", p.to_string(),
                                  stored ? std::string("did not store it") : stored.error().message()));
        r->metrics_->push("failed");
      }
    };
    std::vector<Task> tasks;
    for (auto& p : peers) {
      tasks.push_back([r, p, &push_to]() -> asio::awaitable<void> {
        co_await push_to(p);
        std::lock_guard lock(r->mutex_);
        --r->queue_;
        r->metrics_->queue.Set(static_cast<double>(r->queue_));
      });
    }
    co_await run_parallel(std::move(tasks), r->options_.max_pushes);
    // Full nodes are replaced by the next closest, one at a time.
    for (size_t i = 0; i < refused.size() && !spare.empty(); ++i) {
      auto p = spare.front();
      spare.erase(spare.begin());
      co_await push_to(p);
    }
    if (held.size() < need) {
      co_return make_error(ErrorCode::kUnavailable,
                           fmt::format("{} is stored here, but only {} of the {} copies asked for are durable "
                                       "({} live nodes can hold it){}{}",
                                       h.hex(), held.size(), need, peers.size() + 1, why.empty() ? "" : ": ",
                                       fmt::join(why, "; ")));
    }
    co_return held;
  };
  if (wait_for <= 1) {
    if (!ask.empty()) {
      asio::co_spawn(host_->io(), run(self, hash, size, std::move(ask), std::move(spares), 0), asio::detached);
    }
    co_return holders;
  }
  co_return co_await run(self, hash, size, std::move(ask), std::move(spares), wait_for);
}

asio::awaitable<Result<BlobReplicas>> Replicator::replicas(Hash hash) {
  BlobReplicas out;
  out.hash = hash;
  out.factor = options_.factor;
  auto meta = co_await run_blocking(*workers_, [&] { return store_->stat(hash); });
  if (meta && !meta->corrupt) {
    out.held_here = true;
    out.pinned_here = meta->pins > 0;
  } else if (!meta && meta.error().code() != ErrorCode::kNotFound) {
    co_return tl::unexpected(meta.error());
  }
  auto peers = live_peers();
  out.live_nodes = peers.size() + 1;
  std::vector<Hash> asked{hash};
  auto seen = co_await ask_live(peers, std::move(asked));
  std::vector<p2p::PeerId> candidates;
  if (!full()) candidates.push_back(host_->id());
  for (size_t i = 0; i < peers.size(); ++i) {
    if (!known_full(peers[i])) candidates.push_back(peers[i]);
  }
  out.responsible = responsible(hash, candidates, options_.factor);
  auto is_responsible = [&](const p2p::PeerId& p) {
    return std::find(out.responsible.begin(), out.responsible.end(), p) != out.responsible.end();
  };
  if (out.held_here) {
    out.copies.push_back({host_->id(), true, out.pinned_here, is_responsible(host_->id())});
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    if (!seen[i] || !seen[i]->sizes.front()) continue;
    out.copies.push_back({peers[i], false, seen[i]->pinned.front(), is_responsible(peers[i])});
  }
  for (const auto& c : out.copies) out.replicas += c.pinned ? 1 : 0;
  co_return out;
}

asio::awaitable<Result<ScrubReport>> Replicator::scrub() {
  const auto started = Clock::now();
  auto verified = co_await run_blocking(*workers_, [&] { return store_->verify(); });
  if (!verified) co_return tl::unexpected(verified.error());
  ScrubReport report;
  report.checked = verified->checked;
  std::vector<Hash> damaged;
  for (const auto* list : {&verified->bad, &verified->missing}) {
    for (const auto& problem : *list) {
      auto h = Hash::parse(problem.object);
      if (h) damaged.push_back(*h);
    }
  }
  report.bad = damaged.size();
  // Who holds a good copy of each: every live peer is asked about all of them at once.
  auto peers = live_peers();
  std::vector<std::optional<exchange::HaveAnswer>> seen;
  if (!damaged.empty()) seen = co_await ask_live(peers, damaged);
  for (size_t k = 0; k < damaged.size(); ++k) {
    const Hash& hash = damaged[k];
    std::vector<p2p::PeerId> providers;
    for (size_t i = 0; i < peers.size(); ++i) {
      if (seen[i] && seen[i]->sizes[k]) providers.push_back(peers[i]);
    }
    auto fetched = co_await exchange_->fetch(hash, rank(hash, providers), exchange::FetchOptions{});
    if (fetched) {
      ++report.repaired;
      metrics_->repaired.Increment();
      spdlog::info("replication: scrub repaired {} from {}", hash.hex(),
                   fetched->served_by.empty() ? std::string("?") : fetched->served_by.front().to_string());
    } else {
      report.failed.push_back(fmt::format("{}: {}", hash.hex(), fetched.error().message()));
      spdlog::warn("replication: scrub could not repair {}: {}", hash.hex(), fetched.error().message());
    }
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  {
    std::lock_guard lock(mutex_);
    last_scrub_ = report;
  }
  co_return report;
}

}  // namespace bzzz::replication
