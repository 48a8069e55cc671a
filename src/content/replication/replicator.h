// content/replication: every pinned blob kept on `factor` live nodes, and repaired when
// nodes come and go.
//
// Owns: the placement of pinned blobs (placement.h: the `factor` live nodes closest to
// the blob, this one included, a full node skipped), the pushes that put them there
// (STORE requests of content/exchange: the receiver fetches the blob from us, pins it,
// and answers once it is durable), the repair rounds, the drop of surplus copies, the
// capacity this node declares, the scrub that re-fetches damaged local replicas, and the
// bzzz_replication_* metrics.
//
// A pinned blob is a replica; an unpinned one is a cache entry that gc may collect.
// Pinning is cluster-wide in effect: the responsible nodes hold a blob pinned, and a
// node that is not among them gives up its pin once they all confirm theirs.
//
// Live nodes: this one and the connected peers whose identify lists the blob protocol.
// A repair round first dials the known blob peers it is not connected to (found by the
// DHT, mDNS, bootstrap or earlier connections; one that fails is left alone for a
// while), so nodes that know the same peers agree on who is responsible. Then, for each
// pinned blob here, it asks the closest live peers (HAVE, batched per peer) whether they
// hold it pinned and whether they are full, and:
//   - here responsible: the closest responsible holder pushes the blob to the
//     responsible nodes that lack it (one STORE per peer for many blobs);
//   - here not responsible (a surplus copy): when no responsible node holds it yet, this
//     node pushes; once `factor` responsible nodes confirm theirs, the local pin goes.
// Rounds run every repair_interval, and settle_delay after a blob peer joins or leaves.
//
// Threading: public coroutines may run on any executor; store calls run on the worker
// pool. One round runs at a time. Depends on content/exchange, content/store, p2p/host,
// p2p/dht (the key space) and base/ only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "base/crypto/hash.h"
#include "base/status/result.h"
#include "content/exchange/exchange.h"
#include "content/store/store.h"
#include "p2p/host/host.h"

namespace prometheus {
class Registry;
}

namespace bzzz::replication {

struct ReplicationOptions {
  size_t factor = 3;                                             // copies of each pinned blob
  std::chrono::milliseconds repair_interval{std::chrono::minutes(1)};
  std::chrono::milliseconds settle_delay{std::chrono::seconds(2)};  // a round this soon after a peer joins or leaves
  std::chrono::milliseconds grace{std::chrono::minutes(10)};        // under-replicated this long: a health warning
  uint64_t capacity = 0;        // bytes of blobs this node holds at most (0: no limit); past it, no new replicas
  std::chrono::milliseconds scrub_interval{0};  // a scrub this often (0: only when asked)
  size_t store_batch = 64;      // blobs per STORE request
  size_t max_pushes = 4;        // STORE requests in flight, all puts and rounds together
  size_t probe_extra = 2;       // peers asked beyond the `factor` closest (some may be full)
  size_t max_dials_per_round = 32;
  std::chrono::milliseconds dial_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds unreachable_backoff{std::chrono::seconds(30)};
};

// What is known of one blob's copies, asked of the live peers now.
struct BlobReplicas {
  struct Copy {
    p2p::PeerId peer;
    bool self = false;
    bool pinned = false;       // a replica (else a cached copy)
    bool responsible = false;  // among the nodes that should hold it
  };
  Hash hash;
  size_t factor = 0;
  bool held_here = false;
  bool pinned_here = false;
  std::vector<p2p::PeerId> responsible;  // closest first
  std::vector<Copy> copies;              // live nodes holding it
  size_t replicas = 0;                   // pinned copies on live nodes
  size_t live_nodes = 0;                 // this one included
};

struct RoundReport {
  std::chrono::system_clock::time_point started{};
  double seconds = 0;
  size_t live_nodes = 0;        // this one included
  size_t blobs = 0;             // pinned here
  size_t under_replicated = 0;  // fewer than `factor` replicas on live nodes
  size_t pushed = 0;            // blob copies asked of others
  size_t confirmed = 0;         // of those, durable there
  size_t dropped = 0;           // surplus pins given up here
  size_t failed = 0;            // pushes or probes that failed
};

struct ScrubReport {
  size_t checked = 0;
  size_t bad = 0;       // damaged or missing here
  size_t repaired = 0;  // fetched again from a peer
  std::vector<std::string> failed;  // "<hash>: why"
  double seconds = 0;
};

struct ReplicationStatus {
  size_t factor = 0;
  size_t pinned = 0;
  uint64_t pinned_bytes = 0;
  size_t under_replicated = 0;  // as of the last round
  std::optional<double> under_replicated_for;  // seconds the oldest has been so
  size_t queue = 0;             // blob copies waiting to be pushed
  size_t live_nodes = 0;
  bool full = false;
  uint64_t capacity = 0;        // 0: no limit
  uint64_t used = 0;            // logical bytes held here
  bool round_running = false;
  size_t rounds = 0;
  std::optional<RoundReport> last_round;
  std::optional<ScrubReport> last_scrub;
};

class Replicator : public std::enable_shared_from_this<Replicator> {
 public:
  static std::shared_ptr<Replicator> create(p2p::Host& host, store::Store& store, exchange::Exchange& exchange,
                                            boost::asio::thread_pool& workers, ReplicationOptions options,
                                            prometheus::Registry* metrics);
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // Sets the exchange's store policy and full probe, watches peers, starts the loops.
  void start();
  // Stops the loops; a round in progress ends at its next step. Idempotent.
  void stop();

  // A blob just pinned here (a put): pushed to the responsible nodes now. With
  // `wait_for` > 1, returns once that many copies (this one included) are durable on
  // live nodes, or kUnavailable naming how many were confirmed and why the rest failed;
  // otherwise the pushes go on in the background and this returns at once. Returns the
  // nodes holding it.
  boost::asio::awaitable<Result<std::vector<p2p::PeerId>>> replicate(Hash hash, uint64_t size, size_t wait_for);

  // The blob's copies among the live nodes (asked now).
  boost::asio::awaitable<Result<BlobReplicas>> replicas(Hash hash);

  // Verifies the local store; each damaged or missing blob is fetched again from the live
  // peers that hold it (pins kept).
  boost::asio::awaitable<Result<ScrubReport>> scrub();

  // One repair round now (waits for one in progress to end first).
  boost::asio::awaitable<RoundReport> repair_now();
  // A round after settle_delay (collapses with other requests).
  void repair_soon();

  ReplicationStatus status() const;
  const ReplicationOptions& options() const { return options_; }
  // Whether this node takes no more replicas.
  bool full() const;

  struct Metrics;  // replicator.cc

 private:
  Replicator(p2p::Host& host, store::Store& store, exchange::Exchange& exchange, boost::asio::thread_pool& workers,
             ReplicationOptions options, prometheus::Registry* metrics);

  struct Pinned {
    Hash hash;
    uint64_t size = 0;
  };
  struct Push {
    p2p::PeerId peer;
    std::vector<Pinned> blobs;
  };

  // A STORE with wait (a replica pinned and durable there) once fewer than max_pushes
  // are in flight: pushes of many puts at once would otherwise have their receivers
  // fetch more from us at once than we serve (BUSY).
  boost::asio::awaitable<Result<std::vector<bool>>> store_on(p2p::PeerId peer, std::vector<Hash> hashes,
                                                             std::vector<uint64_t> sizes);

  // HAVE about `hashes` to each of `peers` at once: per peer its answer, or nullopt when
  // it did not answer (peers that say they are full are noted).
  boost::asio::awaitable<std::vector<std::optional<exchange::HaveAnswer>>> ask_live(std::vector<p2p::PeerId> peers,
                                                                                   std::vector<Hash> hashes);

  // repair.cc
  boost::asio::awaitable<RoundReport> round();
  boost::asio::awaitable<void> dial_known_peers();
  std::vector<p2p::PeerId> live_peers() const;
  boost::asio::awaitable<size_t> push(std::vector<Push> pushes, RoundReport& report);
  boost::asio::awaitable<void> loop(std::shared_ptr<Replicator> self);
  boost::asio::awaitable<void> scrub_loop(std::shared_ptr<Replicator> self);
  void note_full(const p2p::PeerId& peer, bool full);
  bool known_full(const p2p::PeerId& peer) const;
  void refresh_used();

  p2p::Host* host_;
  store::Store* store_;
  exchange::Exchange* exchange_;
  boost::asio::thread_pool* workers_;
  ReplicationOptions options_;
  std::unique_ptr<Metrics> metrics_;
  std::shared_ptr<boost::asio::steady_timer> wake_;        // the repair loop's timer
  std::shared_ptr<boost::asio::steady_timer> scrub_wake_;  // the scrub loop's timer

  mutable std::mutex mutex_;
  bool started_ = false;
  bool stopped_ = false;
  bool round_running_ = false;
  bool round_requested_ = false;
  size_t rounds_ = 0;
  size_t queue_ = 0;
  size_t pushes_in_flight_ = 0;
  std::atomic<uint64_t> used_{0};
  std::optional<RoundReport> last_round_;
  std::optional<ScrubReport> last_scrub_;
  size_t pinned_count_ = 0;
  uint64_t pinned_bytes_ = 0;
  size_t live_nodes_ = 1;
  std::map<Hash, std::chrono::steady_clock::time_point> under_since_;  // under-replicated blobs
  std::map<p2p::PeerId, std::chrono::steady_clock::time_point> full_until_;     // peers that said they are full
  std::map<p2p::PeerId, std::chrono::steady_clock::time_point> unreachable_;    // dials that failed, until when
  std::chrono::steady_clock::time_point next_round_ = std::chrono::steady_clock::time_point::max();
};

}  // namespace bzzz::replication
