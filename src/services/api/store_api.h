// services/api: the node's REST face of the content store (/v1/blobs, /v1/pins,
// /v1/gc, /v1/stats, /v1/verify, /v1/optimize), of content routing (fetching from the
// mesh, /v1/routing) and the store's metrics.
//
// Bodies stream both ways: an upload goes to the store piece by piece as it arrives
// (never whole in memory) and is acknowledged (201) only once durable; a download of a
// raw blob file is verified, then sent with sendfile; anything else is verified and
// sent from the store's reader. Store calls block, so they run on the worker pool.
//
// With a content router (the node has one whenever its p2p layer runs):
//   GET /v1/blobs/{hash}         a blob not held here is fetched from the mesh (cached:
//                                unpinned, so gc may collect it later) and then served
//                                as a local one, with X-Bzzz-Fetched: 1; ?local=1 refuses
//                                (404 saying it was not fetched). A 304 for a matching
//                                If-None-Match needs no fetch.
//   HEAD /v1/blobs/{hash}        never fetches: a blob not held here is answered from
//                                the peers' HAVE (its size, X-Bzzz-Remote: 1), or 404
//   POST /v1/blobs/{hash}/fetch  fetches into the store (?pin=1: pinned; a blob held
//                                already is not transferred, the pin is applied):
//                                {hash, size, fetched, pins, served_by, bytes, seconds,
//                                dropped}
//   GET /v1/routing              the router's announce queue and reprovide rounds
// A put and a pin announce the blob. Without a router a missing blob is a plain 404
// and /v1/routing answers 503.
// Depends on services/http, content/store, content/routing and infra/metrics; knows
// nothing of nodes.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <prometheus/collectable.h>
#include <prometheus/registry.h>

#include "content/replication/replicator.h"
#include "content/routing/router.h"
#include "content/store/store.h"
#include "services/api/range.h"
#include "services/http/exchange.h"
#include "services/http/router.h"

namespace bzzz::api {

struct StoreMetrics;

class StoreApi {
 public:
  // metrics and router may be null (no fetching from the mesh, no announcing).
  StoreApi(store::Store& store, boost::asio::thread_pool& workers, prometheus::Registry* metrics,
           routing::ContentRouter* router = nullptr);
  ~StoreApi();
  void add_routes(http::Router& router);
  // Puts with ?pin=1 or ?replicas=N hand the blob to `replicator` (null: refused, 503).
  void set_replicator(std::shared_ptr<replication::Replicator> replicator) { replicator_ = std::move(replicator); }
  // The store gauges read at scrape time (null without metrics); /metrics collects it.
  std::shared_ptr<prometheus::Collectable> collectable() const;

 private:
  // What a GET needs, found in one trip to the worker pool.
  struct Fetch {
    store::BlobMeta meta;
    bool not_modified = false;
    std::string range_error;  // a Range header that cannot be served (416)
    bool partial = false;
    ByteRange range;
    std::optional<store::Store::VerifiedFile> file;  // a raw file, verified: sendfile
    bool in_memory = false;                           // else: bytes holds the range, verified
    std::string bytes;
  };
  // A raw blob file whose piece tree is known: each piece is checked on a worker while
  // the one before it is sent with sendfile.
  boost::asio::awaitable<Status> send_piecewise(http::Exchange& ex, const Hash& hash,
                                                const store::Store::VerifiedFile& file, ByteRange range,
                                                http::Status_ status, const http::Exchange::Header& header);
  // Not modified? Which range? Pure, given the blob's meta.
  static void decide(Fetch& f, const Hash& hash, const store::BlobMeta& meta,
                     const std::string& if_none_match, const std::string& range_text);
  Result<Fetch> fetch(const Hash& hash, const std::string& if_none_match, const std::string& range_text,
                      bool head);
  // HEAD of a blob not held here: its size from the peers' HAVE, else 404.
  boost::asio::awaitable<void> head_remote(http::Exchange& ex, Hash hash, std::string range_text);
  // POST /v1/blobs/{hash}/fetch
  boost::asio::awaitable<void> fetch_route(http::Exchange& ex);

  store::Store& store_;
  boost::asio::thread_pool& workers_;
  std::shared_ptr<StoreMetrics> metrics_;
  routing::ContentRouter* router_;
  std::shared_ptr<replication::Replicator> replicator_;
};

}  // namespace bzzz::api
