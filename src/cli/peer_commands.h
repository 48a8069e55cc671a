// cli: the peer commands (peers, connect, disconnect, ping). They ask the running node
// over its API (/v1/peers...): the libp2p host lives in the node, not in the command.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/store_commands.h"

namespace bzzz::cli {

void add_peer_commands(CLI::App& app, Action& action);

}  // namespace bzzz::cli
