#include "cli/pubsub_commands.h"

#include <cstdio>
#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include "cli/peer_commands.h"
#include "cli/remote_backend.h"

namespace bzzz::cli {

namespace {

int run_topics(const GlobalOptions& g, const Output& out) {
  auto doc = node_call(node_remote(g), "GET", "/v1/pubsub");
  if (!doc) return out.error(doc.error());
  out.document(*doc);
  out.text(fmt::format("{} peers speak gossipsub", (*doc)["peers"].size()));
  for (const auto& t : (*doc)["topics"]) {
    out.text(fmt::format("{}  {}  {} peers, {} in mesh", t.value("topic", ""),
                         t.value("subscribed", false) ? "subscribed" : "-", t["peers"].size(), t["mesh"].size()));
  }
  return kExitOk;
}

}  // namespace

Result<std::string> pubsub_path(const std::string& topic) {
  if (topic.empty()) return make_error(ErrorCode::kInvalidArgument, "a topic is needed");
  return api_path("/v1/pubsub/", topic, "topic");
}

void add_pubsub_commands(CLI::App& app, Action& action) {
  auto topic = std::make_shared<std::string>();
  auto message = std::make_shared<std::string>();
  auto* pub = app.add_subcommand("pub", "Publish a message on a gossipsub topic through the running node");
  pub->add_option("topic", *topic, "e.g. bzzz/coordination/v1")->required();
  pub->add_option("message", *message, "the message; '-' or none reads it from standard input");
  pub->callback([&action, topic, message] {
    action = [topic, message](const GlobalOptions& g, const Output& out) {
      auto path = pubsub_path(*topic);
      if (!path) return out.error(path.error(), kExitUsage);
      std::string body = *message;
      if (body.empty() || body == "-") {
        body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      }
      auto doc = node_send(node_remote(g), "POST", *path, body, "application/octet-stream");
      if (!doc) return out.error(doc.error());
      out.document(*doc);
      out.text(fmt::format("published {} bytes on {} to {} peers (id {})", body.size(), *topic,
                           doc->value("peers", 0), doc->value("id", "")));
      return kExitOk;
    };
  });

  auto count = std::make_shared<size_t>(0);
  auto* sub = app.add_subcommand("sub", "Print the messages of a gossipsub topic as the running node receives them");
  sub->add_option("topic", *topic, "e.g. bzzz/coordination/v1")->required();
  sub->add_option("-n,--count", *count, "stop after this many messages (default: until interrupted)");
  sub->callback([&action, topic, count] {
    action = [topic, count](const GlobalOptions& g, const Output& out) {
      auto path = pubsub_path(*topic);
      if (!path) return out.error(path.error(), kExitUsage);
      size_t seen = 0;
      // Each event's "data:" line is one message document (services/api/pubsub_api.h).
      auto st = node_lines(node_remote(g), *path, [&](std::string_view line) {
        if (!line.starts_with("data: ")) return true;
        auto doc = nlohmann::json::parse(line.substr(6), nullptr, false);
        if (doc.is_discarded()) return true;
        if (out.json()) {
          std::cout << doc.dump() << std::endl;  // one document per message (JSON lines)
        } else if (doc.contains("data")) {
          std::cout << doc["data"].get<std::string>() << std::endl;
        } else {
          std::cout << "(binary, hex) " << doc.value("data_hex", "") << std::endl;
        }
        return *count == 0 || ++seen < *count;
      });
      if (!st) return out.error(st.error());
      return kExitOk;
    };
  });

  app.add_subcommand("topics", "List the running node's gossipsub topics and peers")->callback([&action] {
    action = run_topics;
  });
}

}  // namespace bzzz::cli
