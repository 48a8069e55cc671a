// node: the composition root of a running bzzz node. It owns the event loop (one
// asio::io_context), opens the components in order and closes them in reverse on
// SIGINT/SIGTERM; a second signal forces an immediate exit. Signal handlers only set
// state for the loop to act on. Today its only component is the content store; the
// HTTP API, p2p and the services join it as further components.
#pragma once

#include <memory>
#include <string>

#include "base/status/result.h"
#include "content/store/store.h"

namespace bzzz::node {

struct NodeOptions {
  std::string data_dir = "./bzzz-data";
  store::StoreOptions store;
};

// Runs a node until it is asked to stop; returns the process exit code.
int run_node(const NodeOptions& options);

}  // namespace bzzz::node
