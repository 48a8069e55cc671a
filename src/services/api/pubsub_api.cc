#include "services/api/pubsub_api.h"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "base/encoding/hex.h"
#include "services/http/exchange.h"

namespace bzzz::api {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::beast::http::verb;
using http::Exchange;
using http::Status_;

namespace {

constexpr auto kKeepAlive = std::chrono::seconds(15);  // a comment line when nothing else was sent
constexpr auto kDrainCheck = std::chrono::seconds(1);

std::string hex_of(const std::string& bytes) {
  return hex_encode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace

nlohmann::json message_json(const p2p::pubsub::Message& msg) {
  nlohmann::json j = {{"id", hex_of(msg.id)},
                      {"from", msg.from.to_string()},
                      {"topic", msg.topic},
                      {"seqno", msg.seqno},
                      {"local", msg.local}};
  // Text when it is valid UTF-8 (what the JSON writer accepts), else hex.
  nlohmann::json text = std::string(msg.data.begin(), msg.data.end());
  try {
    (void)text.dump();
    j["data"] = std::move(text);
  } catch (const nlohmann::json::exception&) {
    j["data_hex"] = hex_encode(msg.data);
  }
  return j;
}

void PubsubApi::add_routes(http::Router& router) {
  router.add(verb::get, "/v1/pubsub", [this](Exchange& ex) -> asio::awaitable<void> {
    nlohmann::json topics = nlohmann::json::array();
    for (const auto& t : router_->topics()) {
      nlohmann::json peers = nlohmann::json::array(), mesh = nlohmann::json::array();
      for (const auto& p : t.peers) peers.push_back(p.to_string());
      for (const auto& p : t.mesh) mesh.push_back(p.to_string());
      topics.push_back({{"topic", t.topic}, {"subscribed", t.subscribed}, {"peers", peers}, {"mesh", mesh}});
    }
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& p : router_->peers()) peers.push_back(p.to_string());
    nlohmann::json doc = {{"topics", topics}, {"peers", peers}};
    co_await ex.send_json(Status_::ok, doc);
  });

  router.add(verb::post, "/v1/pubsub/{topic...}", [this](Exchange& ex) -> asio::awaitable<void> {
    std::string topic(ex.param("topic"));
    auto body = co_await ex.read_all(router_->options().max_message_size);
    if (!body) co_return co_await ex.send_error(body.error());
    auto published = router_->publish(topic, std::vector<uint8_t>(body->begin(), body->end()));
    if (!published) co_return co_await ex.send_error(published.error());
    nlohmann::json doc = {{"id", hex_of(published->id)}, {"topic", topic}, {"peers", published->reached}};
    co_await ex.send_json(Status_::ok, doc);
  });

  router.add(verb::get, "/v1/pubsub/{topic...}", [this](Exchange& ex) -> asio::awaitable<void> {
    std::string topic(ex.param("topic"));
    auto sub = router_->subscribe(topic);
    auto st = co_await ex.send_stream_header(Status_::ok, "text/event-stream");
    if (!st) co_return;
    std::string hello = fmt::format(": subscribed to {}\n\n", topic);
    if (!co_await ex.send_piece(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(hello.data()), hello.size()))) {
      co_return;
    }
    asio::steady_timer tick(co_await asio::this_coro::executor);
    auto quiet_since = std::chrono::steady_clock::now();
    // Ends when the client goes (a write fails), the node drains, or the router stops.
    while (!ex.server_draining()) {
      tick.expires_after(kDrainCheck);
      auto next = sub->next();
      auto waited = tick.async_wait(asio::use_awaitable);
      auto got = co_await (std::move(next) || std::move(waited));
      std::string event;
      if (got.index() == 0) {
        auto& msg = std::get<0>(got);
        if (!msg) break;
        event = fmt::format("id: {}\nevent: message\ndata: {}\n\n", hex_of(msg->id), message_json(*msg).dump());
      } else if (std::chrono::steady_clock::now() - quiet_since >= kKeepAlive) {
        event = ": keep-alive\n\n";
      } else {
        continue;
      }
      quiet_since = std::chrono::steady_clock::now();
      auto sent = co_await ex.send_piece(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(event.data()), event.size()));
      if (!sent) break;
    }
    sub->cancel();
  });
}

}  // namespace bzzz::api
