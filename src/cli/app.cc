#include "cli/app.h"

#include <cstdlib>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/crypto/blake3.h"
#include "cli/output.h"
#include "cli/store_commands.h"
#include "node/node.h"

#ifndef BZZZ_VERSION
#define BZZZ_VERSION "0.0.0"
#endif

namespace bzzz::cli {

int run(int argc, char** argv) {
  CLI::App app{"bzzz: a peer-to-peer coordination fabric for AI agents", "bzzz"};
  app.require_subcommand(1);
  // Global options may come after the subcommand too: `bzzz stat HASH --json`.
  app.fallthrough();
  GlobalOptions g;
  if (const char* env = std::getenv("BZZZ_DATA"); env != nullptr && *env != '\0') g.data_dir = env;
  app.add_option("--data", g.data_dir, "data directory (env BZZZ_DATA)")->capture_default_str();
  app.add_flag("--json", g.json, "machine-readable output");
  app.add_option("--compression", g.codec, "codec for new blobs: zstd, gzip or none")
      ->capture_default_str();
  app.add_option("--level", g.level, "compression level")->capture_default_str();
  app.add_option("--min-savings", g.min_savings,
                 "store compressed only when it saves at least this fraction")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  app.add_option("--small-threshold", g.small_threshold,
                 "blobs up to this many bytes are kept in packs")
      ->capture_default_str();
  app.add_option("--threads", g.threads, "hashing/compression threads (0 = all cores)")
      ->capture_default_str();

  Action action;
  add_store_commands(app, action);

  app.add_subcommand("version", "Print the version")->callback([&action] {
    action = [](const GlobalOptions&, const Output& out) {
      out.text(fmt::format("bzzz {}", BZZZ_VERSION));
      out.document({{"version", BZZZ_VERSION}});
      return kExitOk;
    };
  });
  app.add_subcommand("node", "Run a node on this data dir until SIGINT/SIGTERM")->callback([&action] {
    action = [](const GlobalOptions& global, const Output& out) {
      auto options = store_options(global);
      if (!options) return out.error(options.error(), kExitUsage);
      return node::run_node({global.data_dir, *options});
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Same shape as every other error: "bzzz: ..." naming what was not understood.
    std::string message = e.what();
    std::string extra;
    for (const auto& word : app.remaining()) extra += (extra.empty() ? "" : " ") + word;
    if (!extra.empty() && message.find(extra) == std::string::npos) {
      message += fmt::format(" (not understood: {})", extra);
    }
    Output(g.json).error(Error(ErrorCode::kInvalidArgument,
                               message + "; run `bzzz --help` for usage"),
                         kExitUsage);
    return kExitUsage;
  }
  Output out(g.json);
  // Settings are checked before any command runs, so a bad one is a usage error even
  // for commands that would not have used it.
  if (auto options = store_options(g); !options) return out.error(options.error(), kExitUsage);
  return action(g, out);
}

}  // namespace bzzz::cli
