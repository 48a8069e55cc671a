#include "services/api/peers_api.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "services/http/exchange.h"

namespace bzzz::api {

namespace asio = boost::asio;
using boost::beast::http::verb;
using http::Exchange;
using http::Status_;

namespace {

constexpr size_t kSmallBody = 16 * 1024;

std::string iso8601(std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return "";
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::floor<std::chrono::seconds>(t));
}

nlohmann::json addrs_json(const std::vector<p2p::Multiaddr>& addrs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : addrs) out.push_back(a.to_string());
  return out;
}

// A JSON body's string field, or a 400 naming it.
struct Body {
  nlohmann::json doc;
  std::string error;
};
Body parse_body(const std::string& text) {
  Body b;
  b.doc = nlohmann::json::parse(text, nullptr, false);
  if (b.doc.is_discarded() || !b.doc.is_object()) b.error = "the body must be a JSON object";
  return b;
}

double ms(std::chrono::microseconds us) { return static_cast<double>(us.count()) / 1000.0; }

}  // namespace

nlohmann::json peers_json(const p2p::Host& host) {
  std::multimap<p2p::PeerId, std::shared_ptr<p2p::net::Connection>> by_peer;
  for (auto& c : host.connections()) by_peer.emplace(c->info().peer, c);
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& rec : host.peer_store().all()) {
    nlohmann::json conns = nlohmann::json::array();
    for (auto [it, end] = by_peer.equal_range(rec.id); it != end; ++it) {
      const auto& c = *it->second;
      nlohmann::json cj = {{"direction", c.info().outbound ? "outbound" : "inbound"},
                           {"remote_addr", c.info().remote_addr.to_string()},
                           {"streams", c.stream_count()},
                           {"opened", iso8601(c.info().opened)},
                           {"bytes_in", c.bytes_in()},
                           {"bytes_out", c.bytes_out()}};
      if (auto rtt = c.last_rtt()) cj["keepalive_rtt_ms"] = ms(*rtt);
      conns.push_back(std::move(cj));
    }
    nlohmann::json p = {{"id", rec.id.to_string()},
                        {"connected", !conns.empty()},
                        {"addrs", addrs_json(rec.addrs)},
                        {"protocols", rec.protocols},
                        {"agent_version", rec.agent_version},
                        {"protocol_version", rec.protocol_version},
                        {"last_seen", iso8601(rec.last_seen)},
                        {"connections", std::move(conns)}};
    p["latency_ms"] = rec.latency ? nlohmann::json(ms(*rec.latency)) : nlohmann::json(nullptr);
    peers.push_back(std::move(p));
  }
  return {{"id", host.id().to_string()},
          {"listen_addrs", addrs_json(host.listen_addrs())},
          {"announced_addrs", addrs_json(host.announced_addrs())},
          {"protocols", host.protocols()},
          {"connections", host.connection_count()},
          {"peers", std::move(peers)}};
}

void PeersApi::add_routes(http::Router& router) {
  router.add(verb::get, "/v1/peers", [this](Exchange& ex) -> asio::awaitable<void> {
    nlohmann::json doc = peers_json(*host_);
    co_await ex.send_json(Status_::ok, doc);
  });

  router.add(verb::post, "/v1/peers/connect", [this](Exchange& ex) -> asio::awaitable<void> {
    auto text = co_await ex.read_all(kSmallBody);
    if (!text) co_return co_await ex.send_error(text.error());
    Body body = parse_body(*text);
    if (body.error.empty() && !body.doc.contains("addr")) body.error = "the body needs \"addr\": a multiaddr";
    if (!body.error.empty()) co_return co_await ex.send_error(Status_::bad_request, "bad_body", body.error);
    auto addr = p2p::Multiaddr::parse(body.doc["addr"].is_string() ? body.doc["addr"].get<std::string>() : "");
    if (!addr) co_return co_await ex.send_error(Status_::bad_request, "bad_addr", addr.error().message());
    auto t0 = std::chrono::steady_clock::now();
    auto conn = co_await host_->connect(*addr);
    if (!conn) co_return co_await ex.send_error(conn.error());
    auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    nlohmann::json doc = {{"peer", (*conn)->info().peer.to_string()},
                          {"addr", (*conn)->info().remote_addr.to_string()},
                          {"direction", (*conn)->info().outbound ? "outbound" : "inbound"},
                          {"connect_ms", ms(took)}};
    co_await ex.send_json(Status_::ok, doc);
  });

  router.add(verb::delete_, "/v1/peers/{id}", [this](Exchange& ex) -> asio::awaitable<void> {
    auto peer = p2p::PeerId::parse(ex.param("id"));
    if (!peer) co_return co_await ex.send_error(Status_::bad_request, "bad_peer_id", peer.error().message());
    if (!host_->disconnect(*peer)) {
      co_return co_await ex.send_error(Status_::not_found, "not_connected",
                                       fmt::format("not connected to {}", peer->to_string()));
    }
    nlohmann::json doc = {{"peer", peer->to_string()}, {"disconnected", true}};
    co_await ex.send_json(Status_::ok, doc);
  });

  router.add(verb::post, "/v1/peers/ping", [this](Exchange& ex) -> asio::awaitable<void> {
    auto text = co_await ex.read_all(kSmallBody);
    if (!text) co_return co_await ex.send_error(text.error());
    Body body = parse_body(*text);
    if (body.error.empty() && !(body.doc.contains("peer") && body.doc["peer"].is_string())) {
      body.error = "the body needs \"peer\": a peer id or a multiaddr";
    }
    int count = 1;
    if (body.error.empty() && body.doc.contains("count")) {
      if (!body.doc["count"].is_number_integer() || body.doc["count"].get<int>() < 1 ||
          body.doc["count"].get<int>() > 100) {
        body.error = "\"count\" must be an integer from 1 to 100";
      } else {
        count = body.doc["count"].get<int>();
      }
    }
    if (!body.error.empty()) co_return co_await ex.send_error(Status_::bad_request, "bad_body", body.error);
    std::string target = body.doc["peer"].get<std::string>();
    std::optional<p2p::PeerId> peer;
    if (!target.empty() && target[0] == '/') {
      auto addr = p2p::Multiaddr::parse(target);
      if (!addr) co_return co_await ex.send_error(Status_::bad_request, "bad_addr", addr.error().message());
      auto conn = co_await host_->connect(*addr);
      if (!conn) co_return co_await ex.send_error(conn.error());
      peer = (*conn)->info().peer;
    } else {
      auto id = p2p::PeerId::parse(target);
      if (!id) co_return co_await ex.send_error(Status_::bad_request, "bad_peer_id", id.error().message());
      peer = *id;
    }
    nlohmann::json rtts = nlohmann::json::array();
    for (int i = 0; i < count; ++i) {
      auto rtt = co_await host_->ping(*peer);
      if (!rtt) co_return co_await ex.send_error(rtt.error());
      rtts.push_back(ms(*rtt));
    }
    nlohmann::json doc = {{"peer", peer->to_string()}, {"rtt_ms", rtts}};
    co_await ex.send_json(Status_::ok, doc);
  });
}

}  // namespace bzzz::api
