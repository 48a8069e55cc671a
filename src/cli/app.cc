#include "cli/app.h"

#include <cstdlib>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/config/config.h"
#include "cli/output.h"
#include "cli/store_commands.h"
#include "node/node.h"
#include "node/node_config.h"
#include "cli/peer_commands.h"
#include "cli/dht_commands.h"
#include "cli/replication_commands.h"
#include "cli/pubsub_commands.h"
#include "p2p/identity/identity.h"

#ifndef BZZZ_VERSION
#define BZZZ_VERSION "0.0.0"
#endif
#ifndef BZZZ_COMMIT
#define BZZZ_COMMIT "unknown"
#endif

namespace bzzz::cli {

namespace {

// A flag that is a shorthand for a configuration key; it counts only when given.
struct KeyFlag {
  const char* flag;
  const char* key;
  const char* help;
  std::string value;
  CLI::Option* option = nullptr;
};

int usage_error(const Output& out, const Error& e) { return out.error(e, kExitUsage); }

// Every option, grouped by its first key part, with its help and its default: the file
// etc/bzzz.example.yaml is this output (a test keeps the two equal).
std::string example_config() {
  std::string out =
      "# bzzz node configuration: every key, set to its default. Keep what you change.\n"
      "# Precedence: this file < environment (key a.b.c is BZZZ_A_B_C) < flags (--set a.b.c=v).\n"
      "# A secret key x may be read from a file instead: x_file: /run/secrets/x (or BZZZ_X_FILE).\n"
      "# Durations: 250ms, 30s, 5m, 1h. Sizes: 4096, 64KiB, 1GiB, 1GB.\n";
  std::string group = "\x01";
  for (const auto& o : node::node_schema().options()) {
    size_t dot = o.key.find('.');
    std::string g = dot == std::string::npos ? "" : o.key.substr(0, dot);
    std::string leaf = dot == std::string::npos ? o.key : o.key.substr(dot + 1);
    if (g != group) {
      out += "\n";
      if (!g.empty()) out += fmt::format("{}:\n", g);
      group = g;
    }
    std::string indent = g.empty() ? "" : "  ";
    std::string help = o.help;
    if (!o.choices.empty()) {
      std::string list;
      for (const auto& c : o.choices) list += (list.empty() ? "" : ", ") + c;
      help += fmt::format(" [{}]", list);
    }
    out += fmt::format("{}# {} ({})\n", indent, help, o.env_name());
    std::string value = o.default_value.empty() ? "\"\"" : o.default_value;
    out += fmt::format("{}{}: {}\n", indent, leaf, value);
  }
  return out;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"bzzz: a peer-to-peer coordination fabric for AI agents", "bzzz"};
  app.require_subcommand(1);
  // Global options may come after the subcommand too: `bzzz stat HASH --json`.
  app.fallthrough();
  bool json = false;
  bool offline = false;
  std::string config_file;
  std::vector<std::string> sets;
  std::vector<KeyFlag> key_flags = {
      {"--data", "data", "data directory (env BZZZ_DATA; default ./bzzz-data)", {}},
      {"--listen", "api.listen", "node API address host:port (env BZZZ_API_LISTEN)", {}},
      {"--compression", "store.compression", "codec for new blobs: zstd, gzip or none", {}},
      {"--level", "store.level", "compression level", {}},
      {"--min-savings", "store.min_savings", "store compressed only when it saves this fraction", {}},
      {"--small-threshold", "store.small_threshold", "blobs up to this size are kept in packs", {}},
      {"--threads", "store.threads", "hashing/compression threads (0 = all cores)", {}},
      {"--log-level", "log.level", "trace, debug, info, warn, error or off", {}},
      {"--log-format", "log.format", "text or json", {}},
  };
  for (auto& f : key_flags) f.option = app.add_option(f.flag, f.value, f.help);
  app.add_option("--config", config_file, "YAML configuration file (env BZZZ_CONFIG)");
  app.add_option("--set", sets, "set any configuration key: --set api.max_body=1GiB (repeatable)");
  app.add_flag("--json", json, "machine-readable output");
  app.add_flag("--offline", offline,
               "never fetch from the mesh: use the data dir directly even when a node is running (get asks a "
               "running node for its own copy only)");

  Action action;
  add_store_commands(app, action);
  add_peer_commands(app, action);
  add_pubsub_commands(app, action);
  add_dht_commands(app, action);
  add_replication_commands(app, action);

  app.add_subcommand("version", "Print the version")->callback([&action] {
    action = [](const GlobalOptions&, const Output& out) {
      out.text(fmt::format("bzzz {} ({})", BZZZ_VERSION, BZZZ_COMMIT));
      out.document({{"version", BZZZ_VERSION}, {"commit", BZZZ_COMMIT}});
      return kExitOk;
    };
  });
  app.add_subcommand("node", "Run a node until SIGINT/SIGTERM (configuration: bzzz config show)")
      ->callback([&action] {
        action = [](const GlobalOptions& g, const Output&) {
          return node::run_node(*g.settings, {BZZZ_VERSION, BZZZ_COMMIT});
        };
      });

  app.add_subcommand("id", "Print this node's peer id and listen addresses (creates the identity if none)")
      ->callback([&action] {
        action = [](const GlobalOptions& g, const Output& out) {
          auto identity = p2p::load_or_create_identity(g.data_dir);
          if (!identity) return out.error(identity.error());
          nlohmann::json addrs = nlohmann::json::array();
          out.text(identity->peer_id.to_string());
          for (const auto& addr : g.settings->p2p_listen) {
            std::string full = addr.with_peer_id(identity->peer_id).to_string();
            out.text(full);
            addrs.push_back(full);
          }
          out.document({{"peer_id", identity->peer_id.to_string()},
                        {"cid", identity->peer_id.to_cid()},
                        {"listen", addrs},
                        {"created", identity->created}});
          return kExitOk;
        };
      });

  auto* config_cmd = app.add_subcommand("config", "Show or check the configuration");
  config_cmd->require_subcommand(1);
  config_cmd->add_subcommand("show", "Print the effective configuration and where each value came from")
      ->callback([&action] {
        action = [](const GlobalOptions& g, const Output& out) {
          out.text(g.config->render_text());
          out.document(g.config->render_json());
          return kExitOk;
        };
      });
  config_cmd->add_subcommand("example", "Print a documented configuration file with every default")
      ->callback([&action] {
        action = [](const GlobalOptions&, const Output& out) {
          out.text(example_config());
          out.document({{"yaml", example_config()}});
          return kExitOk;
        };
      });
  auto check_file = std::make_shared<std::string>();
  auto* check = config_cmd->add_subcommand("check", "Validate a configuration file (alone: no environment)");
  check->add_option("FILE", *check_file, "YAML configuration file")->required();
  check->callback([&action, check_file] {
    action = [check_file](const GlobalOptions&, const Output& out) {
      config::Inputs inputs;
      inputs.file = *check_file;
      auto loaded = config::load(node::node_schema(), inputs);
      if (!loaded) return out.error(loaded.error());
      if (auto settings = node::settings_from(*loaded); !settings) return out.error(settings.error());
      size_t set = 0;
      for (const auto& o : loaded->schema().options()) {
        set += loaded->setting(o.key).source == config::Source::kFile;
      }
      out.text(fmt::format("{}: valid ({} settings)", *check_file, set));
      out.document({{"file", *check_file}, {"valid", true}, {"settings", set}});
      return kExitOk;
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
    return usage_error(Output(json),
                       Error(ErrorCode::kInvalidArgument, message + "; run `bzzz --help` for usage"));
  }
  Output out(json);

  // The configuration: file, then environment, then these flags. It is checked before
  // any command runs, so a bad value is a usage error even for commands that ignore it.
  config::Inputs inputs;
  if (config_file.empty()) {
    if (const char* env = std::getenv("BZZZ_CONFIG"); env != nullptr && *env != '\0') config_file = env;
  }
  if (!config_file.empty()) inputs.file = config_file;
  inputs.env = config::environment();
  for (const auto& f : key_flags) {
    if (f.option->count() > 0) inputs.flags.push_back({f.key, f.value, f.flag});
  }
  for (const auto& s : sets) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      return usage_error(out, Error(ErrorCode::kInvalidArgument,
                                    fmt::format("--set '{}': expected KEY=VALUE", s)));
    }
    inputs.flags.push_back({s.substr(0, eq), s.substr(eq + 1), "--set " + s.substr(0, eq)});
  }
  auto loaded = config::load(node::node_schema(), inputs);
  if (!loaded) return usage_error(out, loaded.error());
  auto settings = node::settings_from(*loaded);
  if (!settings) return usage_error(out, settings.error());

  GlobalOptions g;
  g.config = std::make_shared<config::Config>(std::move(*loaded));
  g.settings = std::make_shared<node::NodeSettings>(std::move(*settings));
  g.data_dir = g.settings->data_dir;
  g.data_explicit = g.config->setting("data").source != config::Source::kDefault;
  g.json = json;
  g.offline = offline;
  g.threads = g.settings->store.threads;
  g.api_url = node::api_url(*g.config);
  g.api_token = g.settings->api_token;
  return action(g, out);
}

}  // namespace bzzz::cli
