// node: the composition root of a running bzzz node. It turns the configuration into
// components (store, worker pool, health checker, HTTP API; later p2p, pubsub, dht,
// mcp, proxy), starts them in order on one io_context run by a small thread pool, and
// on SIGINT/SIGTERM (or a critical health check failing past its grace) runs the
// shutdown phases of lifecycle.h. A second SIGINT/SIGTERM exits at once; SIGQUIT logs
// a state summary. Signal handlers only set state; the loop and the shutdown thread
// do the work.
#pragma once

#include <string>

#include "node/node_config.h"

namespace bzzz::node {

struct BuildInfo {
  std::string version;
  std::string commit;
};

// Runs a node until it is asked to stop; returns the process exit code (0 after a
// clean shutdown, 1 when a step had to be abandoned or the node could not start).
int run_node(const NodeSettings& settings, const BuildInfo& build);

}  // namespace bzzz::node
