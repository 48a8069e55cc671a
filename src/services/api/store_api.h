// services/api: the node's REST face of the content store (/v1/blobs, /v1/pins,
// /v1/gc, /v1/stats, /v1/verify, /v1/optimize) and the store's metrics.
//
// Bodies stream both ways: an upload goes to the store piece by piece as it arrives
// (never whole in memory) and is acknowledged (201) only once durable; a download of a
// raw blob file is verified, then sent with sendfile; anything else is verified and
// sent from the store's reader. Store calls block, so they run on the worker pool.
// Depends on services/http, content/store and infra/metrics; knows nothing of nodes.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <prometheus/collectable.h>
#include <prometheus/registry.h>

#include "content/store/store.h"
#include "services/api/range.h"
#include "services/http/exchange.h"
#include "services/http/router.h"

namespace bzzz::api {

struct StoreMetrics;

class StoreApi {
 public:
  // metrics may be null.
  StoreApi(store::Store& store, boost::asio::thread_pool& workers, prometheus::Registry* metrics);
  ~StoreApi();
  void add_routes(http::Router& router);
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

  store::Store& store_;
  boost::asio::thread_pool& workers_;
  std::shared_ptr<StoreMetrics> metrics_;
};

}  // namespace bzzz::api
