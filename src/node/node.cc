#include "node/node.h"

#include <csignal>
#include <cstdlib>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

namespace bzzz::node {

int run_node(const NodeOptions& options) {
  boost::asio::io_context io;
  spdlog::info("bzzz node starting; data dir {}", options.data_dir);
  auto store = store::Store::open(options.data_dir, options.store);
  if (!store) {
    spdlog::error("cannot start: {}", store.error().message());
    return 1;
  }
  auto stats = (*store)->stats();
  if (stats) {
    spdlog::info("store open: {} blobs, {} bytes", stats->counters.blobs, stats->counters.logical_bytes);
  }

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  int received = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (++received > 1) {
          spdlog::warn("second signal ({}): exiting now", signo);
          std::_Exit(1);
        }
        spdlog::info("signal {} received: shutting down (send it again to force)", signo);
        signals.async_wait(on_signal);
        io.stop();
      };
  signals.async_wait(on_signal);
  spdlog::info("bzzz node ready (store only; press Ctrl-C to stop)");
  io.run();
  store->reset();  // closes the store: pending access times flushed, index synced
  spdlog::info("bzzz node stopped");
  return 0;
}

}  // namespace bzzz::node
