// content/exchange: blobs between peers over /bzzz/blob/1.0.0 (wire.h), verified as
// they stream.
//
// Owns: the protocol handler (HAVE, GET of a piece tree and byte ranges, STORE), the
// client side (have(), fetch(), ask_store()), the list of peers caught serving bad
// bytes (avoided for options.bad_peer_backoff), and the bzzz_exchange_* metrics.
//
// fetch() asks one provider for the blob's piece tree and tail, proves them against the
// hash, then fetches the 1 MiB pieces by range from up to max_parallel_providers at
// once. Each piece is checked as it arrives and written into a store::Import (staged in
// blobs/temp, fsynced and installed like any put): a peer that sends one bad piece is
// cut off at that piece, counted and avoided, and its unfinished pieces go to the
// others; a peer that stalls (no progress for stall_timeout) is dropped the same way
// without the penalty; a peer that says it has a blob and then does not is skipped.
//
// Serving: a raw blob file is sent from disk, each piece checked right before it goes
// (the store's remembered piece tree), so a corrupt local copy is refused, not sent;
// other blobs (packed, compressed) are read whole and verified by the store first, or,
// past max_serve_in_memory, streamed through the store's verified reader.
// At most max_inbound_transfers GETs are served at once; more are answered BUSY.
//
// STORE: a peer asks us to hold blobs (replication). The store policy (set by the
// replication module) accepts or refuses each; accepted ones are fetched from the asker
// (and pinned when asked); with `wait` the answer comes once they are durable.
//
// Threading: public coroutines may run on any executor; disk work runs on the worker
// pool given at creation. Coroutines take their arguments by value. stop() before the
// last reference goes. Depends on p2p/host, content/store and base/ only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "base/crypto/hash.h"
#include "base/status/result.h"
#include "content/exchange/wire.h"
#include "content/store/store.h"
#include "p2p/host/host.h"

namespace prometheus {
class Registry;
}

namespace bzzz::exchange {

struct ExchangeOptions {
  std::chrono::milliseconds request_timeout{10'000};  // a stream opened and a header answered
  std::chrono::milliseconds stall_timeout{10'000};    // a range making no progress this long
  std::chrono::milliseconds store_wait_timeout{std::chrono::minutes(10)};  // a STORE with wait
  size_t max_inbound_transfers = 32;                  // GETs served at once; more get BUSY
  size_t max_parallel_providers = 4;                  // providers one fetch uses at once
  uint64_t min_range_pieces = 4;                      // smallest range a provider is asked for
  std::chrono::milliseconds bad_peer_backoff{std::chrono::minutes(10)};
  size_t max_serve_in_memory = 64u << 20;             // non-raw blobs served from memory up to this (else streamed)
};

struct FetchOptions {
  bool pin = false;  // pin the fetched blob (a replica) instead of caching it
};

struct FetchResult {
  store::PutResult put;
  std::vector<p2p::PeerId> served_by;  // providers that delivered verified pieces
  uint64_t bytes = 0;                  // blob bytes received (retries included)
  std::vector<std::string> dropped;    // "<peer>: why" for each provider dropped on the way
};

// What a peer said of some blobs (HAVE).
struct HaveAnswer {
  std::vector<std::optional<uint64_t>> sizes;  // per hash: its size when held (and not known corrupt)
  std::vector<bool> pinned;                    // per hash: held as a replica
  bool full = false;                           // the peer takes no more replicas
};

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  // The store policy for STORE requests: whether to hold a blob of `size` bytes.
  using StorePolicy = std::function<bool(const Hash& hash, uint64_t size)>;
  // Whether this node takes no more replicas (HAVE answers say so).
  using FullProbe = std::function<bool()>;

  static std::shared_ptr<Exchange> create(p2p::Host& host, store::Store& store, boost::asio::thread_pool& workers,
                                          ExchangeOptions options, prometheus::Registry* metrics);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  void start();  // serves the protocol
  void stop();   // refuses new requests; fetches in flight fail with kUnavailable

  void set_store_policy(StorePolicy policy);
  // Called with each blob fetched because a peer asked us to hold it (STORE), once it is
  // durable (content/routing announces it). Must be quick; any thread.
  using StoredHook = std::function<void(const Hash& hash)>;
  void set_on_stored(StoredHook hook) {
    std::lock_guard lock(mutex_);
    on_stored_ = std::move(hook);
  }
  void set_full_probe(FullProbe probe);

  // Which of `hashes` `peer` holds: its size, or nullopt.
  boost::asio::awaitable<Result<std::vector<std::optional<uint64_t>>>> have(p2p::PeerId peer,
                                                                          std::vector<Hash> hashes);
  // The same, with whether each is pinned there and whether the peer is full.
  boost::asio::awaitable<Result<HaveAnswer>> have_detail(p2p::PeerId peer, std::vector<Hash> hashes);
  // Fetches `hash` from `providers` (best first) into the store. kNotFound when none
  // has it; kUnavailable when the ones that had it failed (the error says how). A blob
  // held here already (and not flagged corrupt) is not fetched again (only pinned if
  // asked). Fetches of one hash at once share one transfer: a later one waits for the
  // first and, if it succeeded, returns its result.
  boost::asio::awaitable<Result<FetchResult>> fetch(Hash hash, std::vector<p2p::PeerId> providers,
                                                    FetchOptions options);
  // Asks `peer` to hold `hashes` (of `sizes`), fetching them from us: which it holds
  // when it answers (with `wait`, after they are durable there).
  boost::asio::awaitable<Result<std::vector<bool>>> ask_store(p2p::PeerId peer, std::vector<Hash> hashes,
                                                              std::vector<uint64_t> sizes, bool wait, bool pin);

  // A peer caught sending bad bytes, until its backoff ends.
  bool avoided(const p2p::PeerId& peer) const;
  const ExchangeOptions& options() const { return options_; }

  struct Metrics;  // exchange.cc

 private:
  Exchange(p2p::Host& host, store::Store& store, boost::asio::thread_pool& workers, ExchangeOptions options,
           prometheus::Registry* metrics);

  // exchange_server.cc
  static boost::asio::awaitable<void> serve(std::weak_ptr<Exchange> weak, std::shared_ptr<p2p::net::Stream> stream);
  boost::asio::awaitable<bzzz::Status> serve_have(p2p::net::Stream& stream, HaveRequest request);
  boost::asio::awaitable<bzzz::Status> serve_get(p2p::net::Stream& stream, GetRequest request);
  boost::asio::awaitable<bzzz::Status> serve_store(p2p::net::Stream& stream, p2p::PeerId from, StoreRequest request);

  // exchange.cc: one request on a new stream; the stream stays open for a GET's bytes.
  struct Call {
    std::shared_ptr<p2p::net::Stream> stream;
    Response response;
  };
  boost::asio::awaitable<Result<Call>> call(p2p::PeerId peer, Request request, std::chrono::milliseconds timeout);
  void penalise(const p2p::PeerId& peer, std::string_view reason);

  // fetch.cc
  struct Fetch;
  struct InFlight;  // one transfer of a hash and the fetches waiting for it
  boost::asio::awaitable<Result<FetchResult>> fetch_once(Hash hash, std::vector<p2p::PeerId> providers,
                                                         FetchOptions options);
  boost::asio::awaitable<void> fetch_worker(std::shared_ptr<Fetch> f, p2p::PeerId peer);

  p2p::Host* host_;
  store::Store* store_;
  boost::asio::thread_pool* workers_;
  ExchangeOptions options_;
  std::unique_ptr<Metrics> metrics_;

  mutable std::mutex mutex_;
  std::map<p2p::PeerId, std::chrono::steady_clock::time_point> avoided_;
  StorePolicy store_policy_;
  StoredHook on_stored_;
  FullProbe full_probe_;
  // Trees (and tails) of large packed or compressed blobs served by streaming, kept a
  // while: a fetch asks for several ranges of one blob.
  std::map<Hash, std::pair<std::shared_ptr<const PieceTree>, std::shared_ptr<const std::vector<uint8_t>>>>
      streamed_trees_;
  std::map<Hash, std::shared_ptr<InFlight>> in_flight_;
  size_t serving_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace bzzz::exchange
