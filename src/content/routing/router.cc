// ContentRouter: lifecycle, the announce queue and the reprovide loop.
#include "content/routing/router.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/async/blocking.h"
#include "content/routing/router_internal.h"

namespace bzzz::routing {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

std::shared_ptr<ContentRouter> ContentRouter::create(p2p::Host& host, store::Store& store, asio::thread_pool& workers,
                                                     std::shared_ptr<exchange::Exchange> exchange,
                                                     std::shared_ptr<p2p::dht::Dht> dht, RouterOptions options,
                                                     prometheus::Registry* metrics) {
  return std::shared_ptr<ContentRouter>(
      new ContentRouter(host, store, workers, std::move(exchange), std::move(dht), std::move(options), metrics));
}

ContentRouter::ContentRouter(p2p::Host& host, store::Store& store, asio::thread_pool& workers,
                             std::shared_ptr<exchange::Exchange> exchange, std::shared_ptr<p2p::dht::Dht> dht,
                             RouterOptions options, prometheus::Registry* metrics)
    : host_(host.shared_from_this()),
      store_(&store),
      workers_(&workers),
      exchange_(std::move(exchange)),
      dht_(std::move(dht)),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(metrics)),
      loop_strand_(asio::make_strand(host.io())),
      timer_(loop_strand_) {}

ContentRouter::~ContentRouter() = default;

void ContentRouter::start() {
  if (stopped_ || started_.exchange(true)) return;
  // Blobs a peer asked us to hold are ours to announce like any other.
  std::weak_ptr<ContentRouter> weak = weak_from_this();
  exchange_->set_on_stored([weak](const Hash& hash) {
    if (auto self = weak.lock()) self->announce(hash);
  });
  if (dht_) asio::co_spawn(loop_strand_, loop(shared_from_this()), asio::detached);
  spdlog::info("routing: started ({}; reprovide every {} s)",
               dht_ ? "announcing held blobs in the DHT" : "no DHT: lookups ask connected peers only",
               std::chrono::duration_cast<std::chrono::seconds>(options_.reprovide_interval).count());
}

void ContentRouter::stop() {
  if (stopped_.exchange(true)) return;
  if (started_) exchange_->set_on_stored(nullptr);
  {
    std::lock_guard lock(mutex_);
    for (const auto& h : queue_) pending_.erase(h);
    queue_.clear();
    stats_.round_running = false;
    metrics_->queue.Set(static_cast<double>(pending_.size()));
  }
  asio::dispatch(loop_strand_, [self = shared_from_this()] { self->timer_.cancel(); });
}

void ContentRouter::announce(const Hash& hash) {
  if (!dht_ || stopped_) return;
  {
    std::lock_guard lock(mutex_);
    if (!pending_.insert(hash).second) return;  // queued or being provided already
    queue_.push_back(hash);
  }
  pump();
}

void ContentRouter::pump() {
  std::vector<Hash> begin;
  {
    std::lock_guard lock(mutex_);
    const size_t limit = std::max<size_t>(options_.max_provides_in_flight, 1);
    while (!stopped_ && in_flight_ < limit && !queue_.empty()) {
      begin.push_back(queue_.front());
      queue_.pop_front();
      ++in_flight_;
    }
    metrics_->queue.Set(static_cast<double>(pending_.size()));
  }
  for (const auto& h : begin) asio::co_spawn(host_->io(), provide_one(shared_from_this(), h), asio::detached);
}

asio::awaitable<void> ContentRouter::provide_one(std::shared_ptr<ContentRouter> self, Hash hash) {
  auto mh = hash.multihash();
  p2p::dht::Bytes key(mh.begin(), mh.end());
  p2p::dht::ProvideOptions options;
  options.keep = false;  // reprovided by the loop while held; left to expire once not
  auto sent = co_await self->dht_->provide(std::move(key), options);
  std::string_view result = "ok";
  if (!sent) {
    result = "failed";
    spdlog::debug("routing: announcing {}: {}", hash.hex(), sent.error().message());
  } else if (*sent == 0) {
    result = "unsent";
    // Stored here only: the DHT knew no peer. The loop runs a round once it knows one.
    if (self->dht_->routing_table_size() == 0) self->missed_ = true;
  }
  self->metrics_->provide(result);
  {
    std::lock_guard lock(self->mutex_);
    --self->in_flight_;
    self->pending_.erase(hash);
    auto& s = self->stats_;
    if (result == "ok") {
      ++s.provided;
      if (s.round_running) ++s.round_provided;
    } else if (result == "unsent") {
      ++s.unsent;
    } else {
      ++s.failed;
    }
    if (s.round_running && self->pending_.empty()) self->end_round_locked();
  }
  self->pump();
}

void ContentRouter::end_round_locked() {
  stats_.round_running = false;
  stats_.round_duration = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - round_began_);
  metrics_->reprovide_seconds.Observe(std::chrono::duration<double>(stats_.round_duration).count());
  spdlog::info("routing: reprovide round {} done: {} of {} blobs announced to peers in {:.1f} s", stats_.rounds,
               stats_.round_provided, stats_.round_blobs,
               std::chrono::duration<double>(stats_.round_duration).count());
}

asio::awaitable<Status> ContentRouter::reprovide() {
  auto self = shared_from_this();
  if (!dht_ || stopped_) co_return ok();
  const auto began = SteadyClock::now();
  std::vector<Hash> held;
  // Listing reads the whole index: disk work, on the pool.
  auto listed = co_await run_blocking(*workers_, [&]() -> Status {
    return store_->list([&](const Hash& h, const store::BlobMeta& meta) {
      if (!meta.corrupt) held.push_back(h);
      return !stopped_.load();
    });
  });
  if (!listed) co_return fail(listed.error().wrap("routing: listing the store to reprovide"));
  {
    std::lock_guard lock(mutex_);
    if (!stopped_) {
      auto& s = stats_;
      ++s.rounds;
      s.round_blobs = held.size();
      s.round_provided = 0;
      s.round_started = std::chrono::system_clock::now();
      s.round_duration = std::chrono::milliseconds(0);
      s.round_running = true;
      round_began_ = began;
      for (const auto& h : held) {
        if (pending_.insert(h).second) queue_.push_back(h);
      }
      metrics_->reprovide_blobs.Set(static_cast<double>(held.size()));
      if (pending_.empty()) end_round_locked();
    }
  }
  spdlog::debug("routing: reprovide: {} blobs queued", held.size());
  pump();
  co_return ok();
}

// `self` keeps the router alive from the spawn on, until stop() ends the loop.
asio::awaitable<void> ContentRouter::loop(std::shared_ptr<ContentRouter> self) {
  (void)self;
  auto next = SteadyClock::now() + options_.reprovide_delay;
  // Checking stopped_ and starting the wait happen on loop_strand_ without a suspension
  // between them, and stop() cancels on that strand: no wait outlives a stop.
  while (!stopped_) {
    auto until_due = std::chrono::duration_cast<std::chrono::milliseconds>(next - SteadyClock::now());
    timer_.expires_after(std::clamp(until_due, std::chrono::milliseconds(0), options_.tick));
    auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
    if (stopped_) break;
    if (SteadyClock::now() < next && !missed_) continue;
    // With no peer to announce to, a round would only store here: it waits for one.
    if (dht_->routing_table_size() == 0) continue;
    missed_ = false;
    next = SteadyClock::now() + options_.reprovide_interval;
    auto st = co_await reprovide();
    if (!st) spdlog::warn("{}", st.error().message());
  }
}

RouterStats ContentRouter::stats() const {
  std::lock_guard lock(mutex_);
  RouterStats s = stats_;
  s.announcing = dht_ != nullptr;
  s.queued = queue_.size();
  s.in_flight = in_flight_;
  return s;
}

}  // namespace bzzz::routing
