// content/routing: which peers hold a blob, and telling the mesh which blobs this node
// holds.
//
// Owns: the announce queue (hashes to provide in the DHT under their multihash,
// Hash::multihash(); duplicates collapse, at most max_provides_in_flight provides at
// once), the reprovide loop, provider lookups, fetching through them, and the
// bzzz_routing_* metrics.
//
// Announcing: every blob held is a provider record in the DHT. A put, a pin, a fetch
// and a blob a peer asked us to hold (Exchange's STORE hook) announce it at once; the
// reprovide loop lists the store shortly after start (once the DHT knows a peer) and
// then every reprovide_interval and queues every blob held that is not flagged
// corrupt. The provides are made with keep = false: no entry lives forever, neither
// here nor at the peers (48 h there), so a blob gc removed is simply not reprovided and
// its records expire; reprovide_interval stays well inside that expiry. A provide that
// reached no peer because the DHT knew none sets off an early round once it knows one.
// Without a DHT (dht.enabled = false) announcing does nothing.
//
// Finding: HAVE to the connected peers whose identify lists the blob protocol (all at
// once, each bounded by have_timeout), then the DHT's providers; peers that confirmed
// by HAVE come first, peers that denied it and this node are left out.
//
// Threading: public methods may be called from any thread or coroutine; coroutines run
// on the host's loop and take their arguments by value; the store is only listed on the
// worker pool. stop() before the last reference goes (the loop holds one). Depends on
// content/exchange, content/store, p2p/dht and p2p/host.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "base/crypto/hash.h"
#include "base/status/result.h"
#include "content/exchange/exchange.h"
#include "content/store/store.h"
#include "p2p/dht/dht.h"
#include "p2p/host/host.h"

namespace prometheus {
class Registry;
}

namespace bzzz::routing {

struct RouterOptions {
  // Every blob held is provided again this often (the peers keep a record 48 h).
  std::chrono::milliseconds reprovide_interval{std::chrono::hours(12)};
  std::chrono::milliseconds reprovide_delay{std::chrono::seconds(10)};  // the first round after start
  std::chrono::milliseconds tick{std::chrono::seconds(5)};  // how often the loop looks whether a round is due
  size_t max_provides_in_flight = 8;
  std::chrono::milliseconds have_timeout{std::chrono::seconds(2)};  // a connected peer's HAVE answer
  size_t max_have_peers = 64;        // connected peers asked by HAVE in one lookup
  size_t providers_per_fetch = 8;    // providers a fetch looks for (Exchange uses up to 4 at once)
};

// A lookup's answer.
struct Found {
  std::vector<p2p::PeerId> providers;  // confirmed by HAVE first (in answer order), then the DHT's
  std::optional<uint64_t> size;        // the blob's size, from the first HAVE that confirmed it
  size_t asked = 0;                    // peers asked by HAVE
  bool dht = false;                    // the DHT was asked
};

struct RouterStats {
  bool announcing = false;  // there is a DHT to announce in
  size_t queued = 0;        // hashes waiting for a provide
  size_t in_flight = 0;     // provides running
  uint64_t provided = 0;    // provides since start that reached at least one peer
  uint64_t unsent = 0;      // provides that reached no peer (stored here only)
  uint64_t failed = 0;      // provides that failed
  // Reprovide rounds: how many began, and the last one (its blobs, how many of them a
  // provide reached a peer with, when it began, how long it took; running until its
  // provides are done).
  uint64_t rounds = 0;
  uint64_t round_blobs = 0;
  uint64_t round_provided = 0;
  std::optional<std::chrono::system_clock::time_point> round_started;
  std::chrono::milliseconds round_duration{0};
  bool round_running = false;
};

class ContentRouter : public std::enable_shared_from_this<ContentRouter> {
 public:
  // `dht` may be null (no announcing; lookups ask connected peers only); `metrics` too.
  static std::shared_ptr<ContentRouter> create(p2p::Host& host, store::Store& store,
                                               boost::asio::thread_pool& workers,
                                               std::shared_ptr<exchange::Exchange> exchange,
                                               std::shared_ptr<p2p::dht::Dht> dht, RouterOptions options,
                                               prometheus::Registry* metrics);
  ~ContentRouter();
  ContentRouter(const ContentRouter&) = delete;
  ContentRouter& operator=(const ContentRouter&) = delete;

  // Starts the reprovide loop (with a DHT) and hooks into the exchange's STORE.
  void start();
  // Ends the loop and drops the queue; provides in flight end on their own. Idempotent.
  void stop();

  // Queues `hash` for a provide (a no-op without a DHT, or queued already).
  void announce(const Hash& hash);
  // Providers of `hash`, at most `limit` (0: every one found). With `confirm`, the DHT's
  // are asked by HAVE too and only those that hold the blob are kept. kUnavailable
  // once stopped.
  boost::asio::awaitable<Result<Found>> find(Hash hash, size_t limit, bool confirm);
  // find(), then Exchange::fetch from what it found; the fetched blob is announced.
  // kNotFound "no provider of <hash> was found (asked N connected peers and the DHT)",
  // or the exchange's error.
  boost::asio::awaitable<Result<exchange::FetchResult>> fetch(Hash hash, exchange::FetchOptions options);
  // Queues every blob held (not flagged corrupt): one reprovide round, as the loop runs
  // it. Errors: listing the store failed.
  boost::asio::awaitable<Status> reprovide();

  RouterStats stats() const;
  const RouterOptions& options() const { return options_; }

  struct Metrics;  // router.cc

 private:
  ContentRouter(p2p::Host& host, store::Store& store, boost::asio::thread_pool& workers,
                std::shared_ptr<exchange::Exchange> exchange, std::shared_ptr<p2p::dht::Dht> dht,
                RouterOptions options, prometheus::Registry* metrics);

  // router.cc: the queue and the loop
  void pump();  // starts provides while fewer than the limit run
  static boost::asio::awaitable<void> provide_one(std::shared_ptr<ContentRouter> self, Hash hash);
  boost::asio::awaitable<void> loop(std::shared_ptr<ContentRouter> self);
  void end_round_locked();

  // router_find.cc: HAVE to several peers at once, each answer within have_timeout.
  struct Gather;
  struct Answers {
    std::vector<std::pair<p2p::PeerId, uint64_t>> have;  // in answer order, with the size
    std::vector<p2p::PeerId> denied;
  };
  boost::asio::awaitable<Answers> ask_have(Hash hash, std::vector<p2p::PeerId> peers);
  static boost::asio::awaitable<void> have_one(std::shared_ptr<exchange::Exchange> exchange,
                                               std::shared_ptr<Gather> gather, p2p::PeerId peer, Hash hash);

  std::shared_ptr<p2p::Host> host_;
  store::Store* store_;
  boost::asio::thread_pool* workers_;
  std::shared_ptr<exchange::Exchange> exchange_;
  std::shared_ptr<p2p::dht::Dht> dht_;
  const RouterOptions options_;
  std::unique_ptr<Metrics> metrics_;
  boost::asio::strand<boost::asio::io_context::executor_type> loop_strand_;
  boost::asio::steady_timer timer_;  // on loop_strand_
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> missed_{false};  // a provide reached no peer because the DHT knew none

  mutable std::mutex mutex_;  // guards what follows
  std::deque<Hash> queue_;
  std::unordered_set<Hash, HashHasher> pending_;  // queued or in flight
  size_t in_flight_ = 0;
  RouterStats stats_;
  std::chrono::steady_clock::time_point round_began_{};
};

}  // namespace bzzz::routing
