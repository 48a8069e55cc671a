// services/api: the replication face. GET /v1/replication (pinned and under-replicated
// counts, the repair queue, live nodes, capacity, the last round and scrub),
// GET /v1/replication/blobs/{hash} (a blob's responsible nodes and the copies the live
// nodes hold, asked now), POST /v1/replication/repair (a round now) and
// POST /v1/replication/scrub (verify the store; damaged replicas fetched again).
// 503 naming the reason when the node runs without replication. Depends on
// services/http and content/replication.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "content/replication/replicator.h"
#include "services/http/router.h"

namespace bzzz::api {

nlohmann::json round_json(const replication::RoundReport& r);
nlohmann::json scrub_json(const replication::ScrubReport& r);
nlohmann::json replication_status_json(const replication::ReplicationStatus& s);
nlohmann::json replicas_json(const replication::BlobReplicas& r);

class ReplicationApi {
 public:
  // `replicator` may be null: every route then answers 503.
  explicit ReplicationApi(std::shared_ptr<replication::Replicator> replicator)
      : replicator_(std::move(replicator)) {}
  void add_routes(http::Router& router);

 private:
  std::shared_ptr<replication::Replicator> replicator_;
};

}  // namespace bzzz::api
