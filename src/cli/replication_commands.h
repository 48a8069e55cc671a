// cli: the replication commands. `bzzz replication` (status: pinned and
// under-replicated blobs, live nodes, capacity, the last repair round and scrub),
// `bzzz replicas HASH` (a blob's responsible nodes and the copies live nodes hold),
// `bzzz repair` (a repair round now) and `bzzz scrub` (verify the store, fetch damaged
// replicas again from peers). They ask the running node (/v1/replication).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/store_commands.h"

namespace bzzz::cli {

void add_replication_commands(CLI::App& app, Action& action);

// Lines describing a blob's replicas (GET /v1/replication/blobs/{hash}), for `bzzz
// replicas` and `bzzz stat`.
std::vector<std::string> replicas_text(const nlohmann::json& doc);

}  // namespace bzzz::cli
