#include "p2p/dht/dht.h"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "p2p/dht/dht_internal.h"

namespace bzzz::p2p::dht {

namespace asio = boost::asio;

std::shared_ptr<Dht> Dht::create(Host& host, DhtOptions options, prometheus::Registry* metrics) {
  return std::shared_ptr<Dht>(new Dht(host, std::move(options), metrics));
}

Dht::Dht(Host& host, DhtOptions options, prometheus::Registry* metrics)
    : io_(host.io()),
      host_(host.shared_from_this()),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(metrics)),
      rt_(host.id(), options_.k, options_.max_failures),
      loop_strand_(asio::make_strand(io_)) {}

Dht::~Dht() = default;

void Dht::add_validator(std::string ns, Validator validator) { validators_.add(std::move(ns), std::move(validator)); }

Status Dht::start() {
  if (stopped_) return make_error(ErrorCode::kUnavailable, "dht: stopped; create another to start again");
  if (started_.exchange(true)) return ok();
  auto opened = RecordStore::open(options_.data_dir, options_.record_ttl, options_.provider_ttl);
  if (!opened) {
    started_ = false;
    return fail(opened.error().wrap("dht: cannot open the record store"));
  }
  {
    std::lock_guard lock(mutex_);
    store_ = std::shared_ptr<RecordStore>(std::move(*opened));
  }
  update_gauges();
  std::weak_ptr<Dht> weak = weak_from_this();
  if (options_.server_mode) {
    host_->handle(options_.protocol, [weak](std::shared_ptr<net::Stream> s) -> asio::awaitable<void> {
      co_await serve(weak, std::move(s));
    });
  }
  host_->subscribe([weak](const PeerEvent& e) {
    if (auto self = weak.lock()) self->on_event(e);
  });
  // Servers identified before we started.
  for (const auto& rec : host_->peer_store().all()) {
    if (rec.identified && std::find(rec.protocols.begin(), rec.protocols.end(), options_.protocol) != rec.protocols.end()) {
      add_peer(rec.id);
    }
  }
  auto spawn = [&](Task task, std::chrono::milliseconds first, std::chrono::milliseconds every) {
    auto timer = std::make_shared<asio::steady_timer>(loop_strand_);
    timers_.push_back(timer);
    asio::co_spawn(loop_strand_, periodic(shared_from_this(), timer, task, first, every), asio::detached);
  };
  spawn(Task::kRefresh, options_.refresh_initial_delay, options_.refresh_interval);
  spawn(Task::kRepublish, options_.republish_interval, options_.republish_interval);
  spawn(Task::kPurge, options_.purge_interval, options_.purge_interval);
  auto sweep = std::max<std::chrono::milliseconds>(options_.outbound_idle_timeout / 2, std::chrono::milliseconds(100));
  spawn(Task::kSweep, sweep, sweep);
  spdlog::info("dht: started in {} mode on {} ({} peers in the routing table)",
               options_.server_mode ? "server" : "client", options_.protocol, rt_.size());
  return ok();
}

void Dht::stop() {
  if (stopped_.exchange(true)) return;
  if (!started_) return;
  asio::dispatch(loop_strand_, [self = shared_from_this()] {
    for (auto& t : self->timers_) t->cancel();
  });
  sweep_idle(true);
  std::vector<std::weak_ptr<net::Stream>> serving;
  {
    std::lock_guard lock(mutex_);
    store_.reset();  // closed once the requests still using it end
    for (auto& [key, weak] : serving_) serving.push_back(weak);
  }
  for (auto& weak : serving) {
    if (auto s = weak.lock()) s->reset();
  }
}

std::shared_ptr<RecordStore> Dht::store() const {
  std::lock_guard lock(mutex_);
  return store_;
}

// --- the routing table -------------------------------------------------------------

void Dht::on_event(const PeerEvent& e) {
  if (stopped_ || e.kind != PeerEvent::Kind::kIdentified) return;
  auto rec = host_->peer_store().get(e.peer);
  if (!rec) return;
  if (std::find(rec->protocols.begin(), rec->protocols.end(), options_.protocol) != rec->protocols.end()) {
    add_peer(e.peer);
  } else if (rt_.remove(e.peer)) {
    // It left server mode (or never was in it and got in through a lookup).
    metrics_->routing_table.Set(static_cast<double>(rt_.size()));
  }
}

void Dht::add_peer(const PeerId& peer) {
  auto r = rt_.add(peer);
  if (r == RoutingTable::AddResult::kAdded || r == RoutingTable::AddResult::kReplaced) {
    metrics_->routing_table.Set(static_cast<double>(rt_.size()));
  }
}

std::vector<RoutingPeer> Dht::routing_table() const {
  std::vector<RoutingPeer> out;
  for (auto& e : rt_.entries()) {
    out.push_back(RoutingPeer{e.id, host_->peer_store().addrs(e.id), e.last_seen, e.bucket, e.failures});
  }
  return out;
}

std::optional<LookupStats> Dht::last_lookup() const {
  std::lock_guard lock(mutex_);
  return last_lookup_;
}

size_t Dht::record_count() const {
  auto s = store();
  return s ? s->record_count() : 0;
}

size_t Dht::provider_count() const {
  auto s = store();
  return s ? s->provider_count() : 0;
}

void Dht::update_gauges() {
  if (auto s = store()) {
    metrics_->records.Set(static_cast<double>(s->record_count()));
    metrics_->providers.Set(static_cast<double>(s->provider_count()));
  }
  metrics_->routing_table.Set(static_cast<double>(rt_.size()));
}

// --- loops ---------------------------------------------------------------------------

// `self` keeps the DHT alive from the spawn on, until stop() ends the loop.
asio::awaitable<void> Dht::periodic(std::shared_ptr<Dht> self, std::shared_ptr<asio::steady_timer> timer, Task task,
                                    std::chrono::milliseconds first, std::chrono::milliseconds every) {
  (void)self;
  auto wait = first;
  // Checking stopped_ and starting the wait happen on loop_strand_ without a suspension
  // between them, and stop() cancels on that strand: no wait outlives a stop.
  while (!stopped_) {
    timer->expires_after(wait);
    co_await timer->async_wait(kTuple);
    if (stopped_) break;
    wait = every;
    switch (task) {
      case Task::kRefresh: {
        auto st = co_await refresh();
        if (!st) spdlog::debug("dht: refresh: {}", st.error().message());
        break;
      }
      case Task::kRepublish:
        co_await republish();
        break;
      case Task::kPurge:
        purge();
        break;
      case Task::kSweep:
        sweep_idle(false);
        break;
    }
  }
}

asio::awaitable<void> Dht::republish() {
  auto s = store();
  if (!s || rt_.size() == 0) co_return;
  auto records = s->own_records();
  auto keys = s->own_provider_keys();
  for (auto& [key, rec] : records) {
    size_t n = co_await put_to_closest(key, rec.value);
    spdlog::debug("dht: republished record {}: {} peers accepted", quoted(key), n);
  }
  for (auto& key : keys) {
    size_t n = co_await provide_to_closest(key);
    spdlog::debug("dht: republished a provider entry to {} peers", n);
  }
  if (!records.empty() || !keys.empty()) {
    spdlog::info("dht: republished {} records and {} provider entries", records.size(), keys.size());
  }
}

void Dht::purge() {
  auto s = store();
  if (!s) return;
  auto purged = s->purge(Clock::now());
  if (!purged) {
    spdlog::warn("dht: purging expired entries: {}", purged.error().message());
    return;
  }
  if (purged->records + purged->providers > 0) {
    spdlog::debug("dht: purged {} expired records and {} provider entries", purged->records, purged->providers);
  }
  update_gauges();
}

}  // namespace bzzz::p2p::dht
