// cli: the store commands (put, get, stat, ls, pin, gc, verify, stats, optimize, hash,
// index rebuild). Each parses its arguments with CLI11 and runs against a Backend;
// fetch (a blob from the mesh into the node's store) asks the running node only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/output.h"
#include "base/config/config.h"
#include "content/store/store.h"
#include "node/node_config.h"

namespace bzzz::cli {

struct GlobalOptions {
  std::shared_ptr<const config::Config> config;       // the effective configuration
  std::shared_ptr<const node::NodeSettings> settings;  // ...as a node reads it
  std::string data_dir = "./bzzz-data";
  bool data_explicit = false;  // the data dir was named (flag, environment or file)
  bool json = false;
  bool offline = false;        // never fetch from the mesh: the data dir, or a running node's own copy
  unsigned threads = 0;
  std::string api_url;         // where a running node would answer
  std::string api_token;
};

// A parsed command, run after parsing succeeded; returns the exit code.
using Action = std::function<int(const GlobalOptions&, const Output&)>;

void add_store_commands(CLI::App& app, Action& action);


}  // namespace bzzz::cli
