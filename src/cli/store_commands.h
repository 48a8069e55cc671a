// cli: the store commands (put, get, stat, ls, pin, gc, verify, stats, optimize, hash,
// index rebuild). Each parses its arguments with CLI11 and runs against a Backend.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/output.h"
#include "content/store/store.h"

namespace bzzz::cli {

struct GlobalOptions {
  std::string data_dir = "./bzzz-data";
  bool json = false;
  std::string codec = "zstd";
  int level = 3;
  double min_savings = 0.10;
  uint64_t small_threshold = 16 * 1024;
  unsigned threads = 0;
};

// A parsed command, run after parsing succeeded; returns the exit code.
using Action = std::function<int(const GlobalOptions&, const Output&)>;

void add_store_commands(CLI::App& app, Action& action);

// Builds StoreOptions from the global flags; the error names the bad flag.
Result<store::StoreOptions> store_options(const GlobalOptions& g);

}  // namespace bzzz::cli
