#include "cli/dht_commands.h"

#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include "base/crypto/hash.h"
#include "cli/peer_commands.h"
#include "cli/remote_backend.h"

namespace bzzz::cli {

namespace {

// This node's peer id, for a bare name.
Result<std::string> node_id(const RemoteOptions& remote) {
  BZZZ_ASSIGN_OR_RETURN(auto status, node_status(remote));
  if (!status.contains("node_id") || !status["node_id"].is_string()) {
    return make_error(ErrorCode::kUnavailable, "the node has no peer id yet (is its p2p layer running?)");
  }
  return status["node_id"].get<std::string>();
}

// The API path of `key`, asking the node its id only for a bare name.
Result<std::string> value_path(const RemoteOptions& remote, const std::string& key) {
  if (key.empty()) return make_error(ErrorCode::kInvalidArgument, "a key is needed");
  if (key[0] == '/') return dht_value_path(key, "");
  BZZZ_ASSIGN_OR_RETURN(auto id, node_id(remote));
  return dht_value_path(key, id);
}

Result<std::string> hash_path(const std::string& text) {
  auto hash = Hash::parse(text);
  if (!hash) return tl::unexpected(hash.error());
  return "/v1/dht/providers/" + hash->hex();
}

void print_value(const nlohmann::json& doc) {
  if (doc.contains("value")) {
    std::cout << doc["value"].get<std::string>() << std::endl;
  } else {
    std::cout << "(binary, hex) " << doc.value("value_hex", "") << std::endl;
  }
}

std::string lookup_text(const nlohmann::json& last) {
  if (!last.is_object()) return "no lookup yet";
  return fmt::format("last lookup {:.2f} ms, {} hops, {} peers asked ({} failed)", last.value("latency_ms", 0.0),
                     last.value("hops", 0), last.value("queried", 0), last.value("failed", 0));
}

int run_peers(const GlobalOptions& g, const Output& out) {
  auto doc = node_call(node_remote(g), "GET", "/v1/dht/peers");
  if (!doc) return out.error(doc.error());
  out.document(*doc);
  out.text(fmt::format("{} mode on {}; routing table {}, records {}, provider entries {}; {}",
                       doc->value("mode", ""), doc->value("protocol", ""), doc->value("size", 0),
                       doc->value("records", 0), doc->value("providers", 0),
                       lookup_text(doc->value("last_lookup", nlohmann::json()))));
  for (const auto& p : (*doc)["peers"]) {
    std::string addrs;
    for (const auto& a : p["addrs"]) addrs += (addrs.empty() ? "" : " ") + a.get<std::string>();
    out.text(fmt::format("{}  bucket {}  {}", p.value("id", ""), p.value("bucket", 0), addrs));
  }
  return kExitOk;
}

}  // namespace

Result<std::string> dht_value_path(const std::string& key, const std::string& node_id) {
  if (key.empty()) return make_error(ErrorCode::kInvalidArgument, "a key is needed");
  if (key[0] == '/') return api_path("/v1/dht/value/", std::string_view(key).substr(1), "key");
  if (node_id.empty()) return make_error(ErrorCode::kInvalidArgument, "a bare name needs the node's id");
  return api_path("/v1/dht/value/", fmt::format("bzzz/{}/{}", node_id, key), "key");
}

void add_dht_commands(CLI::App& app, Action& action) {
  auto* dht = app.add_subcommand("dht", "The running node's Kademlia DHT: records, providers, routing table");
  dht->require_subcommand(1);
  auto key = std::make_shared<std::string>();
  auto value = std::make_shared<std::string>();
  auto hash = std::make_shared<std::string>();
  const char* key_help = "/bzzz/<peer id>/<name>, /pk/<peer id>, or a name under this node's /bzzz/<id>/";

  auto* get = dht->add_subcommand("get", "Look a key up in the DHT and print its value");
  get->add_option("key", *key, key_help)->required();
  get->callback([&action, key] {
    action = [key](const GlobalOptions& g, const Output& out) {
      auto remote = node_remote(g);
      auto path = value_path(remote, *key);
      if (!path) return out.error(path.error(), path.error().code() == ErrorCode::kInvalidArgument ? kExitUsage
                                                                                                     : kExitFailure);
      auto doc = node_call(remote, "GET", *path);
      if (!doc) return out.error(doc.error());
      out.document(*doc);
      if (!out.json()) print_value(*doc);
      return kExitOk;
    };
  });

  auto* put = dht->add_subcommand("put", "Sign a value with this node's key and store it in the DHT");
  put->add_option("key", *key, "a name (stored as /bzzz/<this node's id>/<name>) or that full key")->required();
  put->add_option("value", *value, "the value; '-' or none reads it from standard input");
  put->callback([&action, key, value] {
    action = [key, value](const GlobalOptions& g, const Output& out) {
      auto remote = node_remote(g);
      auto path = value_path(remote, *key);
      if (!path) return out.error(path.error(), path.error().code() == ErrorCode::kInvalidArgument ? kExitUsage
                                                                                                     : kExitFailure);
      std::string body = *value;
      if (body.empty() || body == "-") {
        body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      }
      auto doc = node_send(remote, "PUT", *path, body, "application/octet-stream");
      if (!doc) return out.error(doc.error());
      out.document(*doc);
      out.text(fmt::format("stored {} ({} bytes, seq {}); {} peers accepted it", doc->value("key", ""), body.size(),
                           doc->value("seq", uint64_t{0}), doc->value("accepted", 0)));
      return kExitOk;
    };
  });

  auto limit = std::make_shared<size_t>(20);
  auto* providers = dht->add_subcommand("providers", "Find the nodes that provide a blob");
  providers->add_option("hash", *hash, "the blob's hash (64 hex digits) or CID")->required();
  providers->add_option("-n,--limit", *limit, "stop the lookup once this many are known (0: no limit)");
  providers->callback([&action, hash, limit] {
    action = [hash, limit](const GlobalOptions& g, const Output& out) {
      auto path = hash_path(*hash);
      if (!path) return out.error(path.error(), kExitUsage);
      auto doc = node_call(node_remote(g), "GET", fmt::format("{}?limit={}", *path, *limit));
      if (!doc) return out.error(doc.error());
      out.document(*doc);
      out.text(fmt::format("{} providers of {}", (*doc)["providers"].size(), doc->value("hash", "")));
      for (const auto& p : (*doc)["providers"]) {
        std::string addrs;
        for (const auto& a : p["addrs"]) addrs += (addrs.empty() ? "" : " ") + a.get<std::string>();
        out.text(fmt::format("{}{}  {}", p.value("id", ""), p.value("self", false) ? " (this node)" : "", addrs));
      }
      return kExitOk;
    };
  });

  auto* provide = dht->add_subcommand("provide", "Announce this node as a provider of a blob");
  provide->add_option("hash", *hash, "the blob's hash (64 hex digits) or CID")->required();
  provide->callback([&action, hash] {
    action = [hash](const GlobalOptions& g, const Output& out) {
      auto path = hash_path(*hash);
      if (!path) return out.error(path.error(), kExitUsage);
      auto doc = node_call(node_remote(g), "POST", *path);
      if (!doc) return out.error(doc.error());
      out.document(*doc);
      out.text(fmt::format("announced as a provider of {} to {} peers", doc->value("hash", ""), doc->value("sent", 0)));
      return kExitOk;
    };
  });

  dht->add_subcommand("peers", "List the DHT's routing table")->callback([&action] { action = run_peers; });
}

}  // namespace bzzz::cli
