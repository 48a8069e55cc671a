// cli: the gossipsub commands (pub, sub, topics). They ask the running node over its
// API (/v1/pubsub...): the router lives in the node.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/store_commands.h"

namespace bzzz::cli {

void add_pubsub_commands(CLI::App& app, Action& action);

// "/v1/pubsub/<topic>" with each segment percent-encoded; a topic with an empty
// segment (a leading, trailing or doubled '/') cannot be named in a path: kInvalidArgument.
Result<std::string> pubsub_path(const std::string& topic);

}  // namespace bzzz::cli
