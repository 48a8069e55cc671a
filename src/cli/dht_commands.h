// cli: the DHT commands, `bzzz dht get|put|providers|provide|peers`. They ask the
// running node over its API (/v1/dht/...): the DHT lives in the node.
//
// Keys: a key starting with '/' is a DHT key as it is ("/bzzz/<peer id>/<name>", or
// "/pk/<peer id>" for a peer's public key); anything else is a name under this node's
// own namespace, "/bzzz/<this node's id>/<name>" (the node's id comes from /v1/status).
// Only this node's own records can be put. Hashes are a blob's 64 hex digits or CID.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/store_commands.h"

namespace bzzz::cli {

void add_dht_commands(CLI::App& app, Action& action);

// The API path of a key: "/v1/dht/value/" + the key without its first slash, each
// segment percent-encoded. `node_id` expands a bare name (see above).
Result<std::string> dht_value_path(const std::string& key, const std::string& node_id);

}  // namespace bzzz::cli
