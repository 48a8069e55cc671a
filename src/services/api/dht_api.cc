#include "services/api/dht_api.h"

#include <algorithm>
#include <chrono>
#include <string>

#include <fmt/format.h>

#include "base/encoding/hex.h"
#include "services/api/json.h"
#include "services/http/exchange.h"

namespace bzzz::api {

namespace asio = boost::asio;
using boost::beast::http::verb;
using http::Exchange;
using http::Status_;

namespace {

constexpr size_t kDefaultProviderLimit = 20;

nlohmann::json addrs_json(const std::vector<p2p::Multiaddr>& addrs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : addrs) out.push_back(a.to_string());
  return out;
}

int64_t unix_ns(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

nlohmann::json lookup_json(const std::optional<p2p::dht::LookupStats>& last) {
  if (!last) return nullptr;
  return {{"latency_ms", static_cast<double>(last->latency.count()) / 1000.0},
          {"hops", last->hops},
          {"queried", last->queried},
          {"failed", last->failed},
          {"at", iso_time(unix_ns(last->at))}};
}

// The value as text when it is valid UTF-8 (what the JSON writer accepts), else hex.
void set_value_field(nlohmann::json& doc, std::span<const uint8_t> value) {
  nlohmann::json text = std::string(value.begin(), value.end());
  try {
    (void)text.dump();
    doc["value"] = std::move(text);
  } catch (const nlohmann::json::exception&) {
    doc["value_hex"] = hex_encode(value);
  }
}

// The key a path segment names: its first slash is left out of the path. (Built by
// append: g++ 12 warns falsely, -Wrestrict, on "/" + std::string.)
std::string with_slash(std::string_view param) {
  std::string out;
  out.reserve(param.size() + 1);
  out.push_back('/');
  out.append(param);
  return out;
}

// "/" + the path's key, with the pk/<peer id> spelling turned into the binary /pk/ key.
Result<std::string> key_of(std::string_view param) {
  if (param.starts_with("pk/")) {
    auto peer = p2p::PeerId::parse(param.substr(3));
    if (!peer) return fail(peer.error().wrap("dht: a /pk/ key is pk/<peer id>"));
    return p2p::dht::pk_key(*peer);
  }
  return with_slash(param);
}

Result<Hash> hash_of(std::string_view param) { return Hash::parse(param); }

}  // namespace

nlohmann::json dht_peers_json(const p2p::dht::Dht& dht) {
  auto peers = dht.routing_table();
  std::sort(peers.begin(), peers.end(), [](const auto& a, const auto& b) {
    return a.bucket != b.bucket ? a.bucket > b.bucket : a.id < b.id;  // closest buckets first
  });
  nlohmann::json table = nlohmann::json::array();
  for (const auto& p : peers) {
    table.push_back({{"id", p.id.to_string()},
                     {"addrs", addrs_json(p.addrs)},
                     {"bucket", p.bucket},
                     {"last_seen", iso_time(unix_ns(p.last_seen))},
                     {"failures", p.failures}});
  }
  const auto& o = dht.options();
  return {{"mode", o.server_mode ? "server" : "client"},
          {"protocol", o.protocol},
          {"running", dht.running()},
          {"size", peers.size()},
          {"records", dht.record_count()},
          {"providers", dht.provider_count()},
          {"last_lookup", lookup_json(dht.last_lookup())},
          {"peers", std::move(table)}};
}

uint64_t DhtApi::next_seq() {
  auto now = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  uint64_t last = last_seq_.load();
  uint64_t next = 0;
  do {
    next = std::max(now, last + 1);
  } while (!last_seq_.compare_exchange_weak(last, next));
  return next;
}

void DhtApi::add_routes(http::Router& router) {
  // Every route: 503 when the DHT is off or stopped.
  auto off = [this](Exchange& ex) -> asio::awaitable<bool> {
    if (dht_ && dht_->running()) co_return false;
    co_await ex.send_error(Status_::service_unavailable, "dht_off",
                           dht_ ? "the DHT is stopping" : "the DHT is off on this node (dht.enabled = false)");
    co_return true;
  };

  router.add(verb::get, "/v1/dht/peers", [this, off](Exchange& ex) -> asio::awaitable<void> {
    if (co_await off(ex)) co_return;
    nlohmann::json doc = dht_peers_json(*dht_);
    doc["id"] = host_->id().to_string();
    co_await ex.send_json(Status_::ok, doc);
  });

  router.add(verb::get, "/v1/dht/value/{key...}", [this, off](Exchange& ex) -> asio::awaitable<void> {
    if (co_await off(ex)) co_return;
    auto key = key_of(ex.param("key"));
    if (!key) co_return co_await ex.send_error(Status_::bad_request, "bad_key", key.error().message());
    auto value = co_await dht_->get_value(*key);
    if (!value) co_return co_await ex.send_error(value.error());
    bool raw = ex.query("raw").value_or("0") == "1";
    nlohmann::json doc = {{"key", with_slash(ex.param("key"))}};
    std::span<const uint8_t> shown = *value;
    std::optional<p2p::dht::BzzzRecord> rec;
    if (key->starts_with("/bzzz/")) {
      auto decoded = p2p::dht::decode_bzzz_record(*value);
      if (!decoded) co_return co_await ex.send_error(decoded.error());  // the validator passed it: cannot happen
      rec = std::move(*decoded);
      shown = rec->value;
      doc["seq"] = rec->seq;
      doc["publisher"] = p2p::PeerId::from_public_key(rec->public_key).to_string();
    }
    if (raw) {
      std::string bytes(shown.begin(), shown.end());
      co_return co_await ex.send(Status_::ok, std::move(bytes), "application/octet-stream");
    }
    set_value_field(doc, shown);
    co_await ex.send_json(Status_::ok, doc);
  });

  router.add(verb::put, "/v1/dht/value/{key...}", [this, off](Exchange& ex) -> asio::awaitable<void> {
    if (co_await off(ex)) co_return;
    std::string key = with_slash(ex.param("key"));
    std::string own = p2p::dht::bzzz_key(host_->id(), "");
    if (!key.starts_with(own) || key.size() == own.size()) {
      co_return co_await ex.send_error(
          Status_::bad_request, "bad_key",
          fmt::format("this node writes only its own records, {}<name>; {} is not one", own, bzzz::quoted(key)));
    }
    auto body = co_await ex.read_all(kMaxValueBytes);
    if (!body) co_return co_await ex.send_error(body.error());
    std::string name = key.substr(own.size());
    uint64_t seq = next_seq();
    auto record = p2p::dht::make_bzzz_record(host_->identity(), name,
                                             std::span(reinterpret_cast<const uint8_t*>(body->data()), body->size()),
                                             seq);
    auto accepted = co_await dht_->put_value(key, std::move(record));
    if (!accepted) co_return co_await ex.send_error(accepted.error());
    nlohmann::json doc = {{"key", key}, {"seq", seq}, {"bytes", body->size()}, {"accepted", *accepted}};
    co_await ex.send_json(Status_::ok, doc);
  });

  router.add(verb::get, "/v1/dht/providers/{hash}", [this, off](Exchange& ex) -> asio::awaitable<void> {
    if (co_await off(ex)) co_return;
    auto hash = hash_of(ex.param("hash"));
    if (!hash) co_return co_await ex.send_error(Status_::bad_request, "bad_hash", hash.error().message());
    size_t limit = kDefaultProviderLimit;
    if (auto l = ex.query("limit")) {
      char* end = nullptr;
      unsigned long long n = std::strtoull(l->c_str(), &end, 10);
      if (l->empty() || *end != '\0' || n > 10000) {
        co_return co_await ex.send_error(Status_::bad_request, "bad_limit",
                                         fmt::format("limit must be an integer from 0 to 10000, not {}", bzzz::quoted(*l)));
      }
      limit = static_cast<size_t>(n);
    }
    auto mh = hash->multihash();
    p2p::dht::Bytes key(mh.begin(), mh.end());
    auto found = co_await dht_->find_providers(std::move(key), limit);
    if (!found) co_return co_await ex.send_error(found.error());
    nlohmann::json providers = nlohmann::json::array();
    for (const auto& p : *found) {
      providers.push_back({{"id", p.id.to_string()}, {"addrs", addrs_json(p.addrs)}, {"self", p.id == host_->id()}});
    }
    nlohmann::json doc = {{"hash", hash->hex()},
                          {"key", hex_encode(mh)},
                          {"providers", std::move(providers)},
                          {"last_lookup", lookup_json(dht_->last_lookup())}};
    co_await ex.send_json(Status_::ok, doc);
  });

  router.add(verb::post, "/v1/dht/providers/{hash}", [this, off](Exchange& ex) -> asio::awaitable<void> {
    if (co_await off(ex)) co_return;
    auto hash = hash_of(ex.param("hash"));
    if (!hash) co_return co_await ex.send_error(Status_::bad_request, "bad_hash", hash.error().message());
    auto mh = hash->multihash();
    p2p::dht::Bytes key(mh.begin(), mh.end());
    auto sent = co_await dht_->provide(std::move(key));
    if (!sent) co_return co_await ex.send_error(sent.error());
    nlohmann::json doc = {{"hash", hash->hex()}, {"key", hex_encode(mh)}, {"sent", *sent}};
    co_await ex.send_json(Status_::ok, doc);
  });
}

}  // namespace bzzz::api
