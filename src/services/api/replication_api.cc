#include "services/api/replication_api.h"

#include "services/api/json.h"
#include "services/http/exchange.h"

namespace bzzz::api {

namespace asio = boost::asio;
using boost::beast::http::verb;
using http::Exchange;
using http::Status_;

namespace {

std::string when(std::chrono::system_clock::time_point t) {
  return iso_time(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace

nlohmann::json round_json(const replication::RoundReport& r) {
  return {{"started", when(r.started)},
          {"seconds", r.seconds},
          {"live_nodes", r.live_nodes},
          {"blobs", r.blobs},
          {"under_replicated", r.under_replicated},
          {"pushed", r.pushed},
          {"confirmed", r.confirmed},
          {"dropped", r.dropped},
          {"failed", r.failed}};
}

nlohmann::json scrub_json(const replication::ScrubReport& r) {
  return {{"checked", r.checked}, {"bad", r.bad}, {"repaired", r.repaired}, {"failed", r.failed},
          {"seconds", r.seconds}};
}

nlohmann::json replication_status_json(const replication::ReplicationStatus& s) {
  return {{"factor", s.factor},
          {"pinned", s.pinned},
          {"pinned_bytes", s.pinned_bytes},
          {"under_replicated", s.under_replicated},
          {"under_replicated_for_seconds",
           s.under_replicated_for ? nlohmann::json(*s.under_replicated_for) : nlohmann::json(nullptr)},
          {"queue", s.queue},
          {"live_nodes", s.live_nodes},
          {"full", s.full},
          {"capacity", s.capacity},
          {"used", s.used},
          {"round_running", s.round_running},
          {"rounds", s.rounds},
          {"last_round", s.last_round ? round_json(*s.last_round) : nlohmann::json(nullptr)},
          {"last_scrub", s.last_scrub ? scrub_json(*s.last_scrub) : nlohmann::json(nullptr)}};
}

nlohmann::json replicas_json(const replication::BlobReplicas& r) {
  nlohmann::json responsible = nlohmann::json::array();
  for (const auto& p : r.responsible) responsible.push_back(p.to_string());
  nlohmann::json copies = nlohmann::json::array();
  for (const auto& c : r.copies) {
    copies.push_back({{"peer", c.peer.to_string()}, {"self", c.self}, {"pinned", c.pinned},
                      {"responsible", c.responsible}});
  }
  return {{"hash", r.hash.hex()},      {"factor", r.factor},       {"live_nodes", r.live_nodes},
          {"held_here", r.held_here},  {"pinned_here", r.pinned_here}, {"replicas", r.replicas},
          {"responsible", responsible}, {"copies", copies}};
}

void ReplicationApi::add_routes(http::Router& router) {
  auto off = [this](Exchange& ex) -> asio::awaitable<bool> {
    if (replicator_) co_return false;
    co_await ex.send_error(Status_::service_unavailable, "replication_off",
                           "this node runs without replication (no p2p host)");
    co_return true;
  };
  router.add(verb::get, "/v1/replication", [this, off](Exchange& ex) -> asio::awaitable<void> {
    if (co_await off(ex)) co_return;
    co_await ex.send_json(Status_::ok, replication_status_json(replicator_->status()));
  });
  router.add(verb::get, "/v1/replication/blobs/{hash}", [this, off](Exchange& ex) -> asio::awaitable<void> {
    if (co_await off(ex)) co_return;
    auto text = ex.param("hash");
    auto hash = Hash::parse(text);
    if (!hash) co_return co_await ex.send_error(Status_::bad_request, "bad_hash", hash.error().message());
    auto r = co_await replicator_->replicas(*hash);
    if (!r) co_return co_await ex.send_error(r.error());
    co_await ex.send_json(Status_::ok, replicas_json(*r));
  });
  router.add(verb::post, "/v1/replication/repair", [this, off](Exchange& ex) -> asio::awaitable<void> {
    if (co_await off(ex)) co_return;
    auto r = co_await replicator_->repair_now();
    co_await ex.send_json(Status_::ok, round_json(r));
  });
  router.add(verb::post, "/v1/replication/scrub", [this, off](Exchange& ex) -> asio::awaitable<void> {
    if (co_await off(ex)) co_return;
    auto r = co_await replicator_->scrub();
    if (!r) co_return co_await ex.send_error(r.error());
    co_await ex.send_json(Status_::ok, scrub_json(*r));
  });
}

}  // namespace bzzz::api
