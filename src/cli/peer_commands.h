// cli: the peer commands (peers, connect, disconnect, ping). They ask the running node
// over its API (/v1/peers...): the libp2p host lives in the node, not in the command.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/remote_backend.h"
#include "cli/store_commands.h"

namespace bzzz::cli {

void add_peer_commands(CLI::App& app, Action& action);

// How the commands that only make sense with a node (peers, pubsub) reach it: the
// configured api.url and token, with a minute for each read or write.
RemoteOptions node_remote(const GlobalOptions& g);

}  // namespace bzzz::cli
