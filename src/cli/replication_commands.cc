#include "cli/replication_commands.h"

#include <fmt/format.h>

#include "base/crypto/hash.h"
#include "cli/peer_commands.h"
#include "cli/remote_backend.h"

namespace bzzz::cli {

namespace {

std::string round_text(const nlohmann::json& r) {
  if (!r.is_object()) return "no repair round yet";
  return fmt::format("last round {} ({:.2f} s): {} blobs on {} live nodes, pushed {} ({} confirmed), dropped {}, "
                     "{} failures",
                     r.value("started", ""), r.value("seconds", 0.0), r.value("blobs", 0), r.value("live_nodes", 0),
                     r.value("pushed", 0), r.value("confirmed", 0), r.value("dropped", 0), r.value("failed", 0));
}

std::string scrub_text(const nlohmann::json& r) {
  if (!r.is_object()) return "no scrub yet";
  return fmt::format("scrub: {} blobs checked, {} bad, {} repaired, {} not repaired ({:.2f} s)", r.value("checked", 0),
                     r.value("bad", 0), r.value("repaired", 0), r["failed"].size(), r.value("seconds", 0.0));
}

int run_status(const GlobalOptions& g, const Output& out) {
  auto doc = node_call(node_remote(g), "GET", "/v1/replication");
  if (!doc) return out.error(doc.error());
  out.document(*doc);
  std::string capacity = doc->value("capacity", uint64_t{0}) == 0
                             ? std::string("no capacity limit")
                             : fmt::format("capacity {} of {} bytes used{}", doc->value("used", uint64_t{0}),
                                           doc->value("capacity", uint64_t{0}), doc->value("full", false) ? " (full)" : "");
  out.text(fmt::format("factor {}: {} pinned blobs ({} bytes), {} under-replicated, {} copies queued; {} live nodes; {}",
                       doc->value("factor", 0), doc->value("pinned", 0), doc->value("pinned_bytes", uint64_t{0}),
                       doc->value("under_replicated", 0), doc->value("queue", 0), doc->value("live_nodes", 0),
                       capacity));
  out.text(round_text(doc->value("last_round", nlohmann::json())));
  out.text(scrub_text(doc->value("last_scrub", nlohmann::json())));
  return kExitOk;
}

}  // namespace

std::vector<std::string> replicas_text(const nlohmann::json& doc) {
  std::vector<std::string> lines;
  lines.push_back(fmt::format("replicas:    {} of {} on {} live nodes", doc.value("replicas", 0), doc.value("factor", 0),
                              doc.value("live_nodes", 0)));
  std::set<std::string> holding;
  for (const auto& c : doc["copies"]) {
    std::string peer = c.value("peer", "");
    holding.insert(peer);
    lines.push_back(fmt::format("  {}  {}{}{}", peer, c.value("pinned", false) ? "replica" : "cached",
                                c.value("responsible", false) ? ", responsible" : "",
                                c.value("self", false) ? " (this node)" : ""));
  }
  for (const auto& p : doc["responsible"]) {
    auto id = p.get<std::string>();
    if (!holding.count(id)) lines.push_back(fmt::format("  {}  missing, responsible", id));
  }
  return lines;
}

void add_replication_commands(CLI::App& app, Action& action) {
  app.add_subcommand("replication", "The running node's replication: pinned, under-replicated, live nodes, repair")
      ->callback([&action] { action = run_status; });

  auto hash = std::make_shared<std::string>();
  auto* replicas = app.add_subcommand("replicas", "Which nodes hold a blob, and which should");
  replicas->add_option("hash", *hash, "the blob's hash (64 hex digits) or CID")->required();
  replicas->callback([&action, hash] {
    action = [hash](const GlobalOptions& g, const Output& out) {
      auto parsed = Hash::parse(*hash);
      if (!parsed) return out.error(parsed.error(), kExitUsage);
      auto doc = node_call(node_remote(g), "GET", "/v1/replication/blobs/" + parsed->hex());
      if (!doc) return out.error(doc.error());
      out.document(*doc);
      out.text(fmt::format("blob:        {}", doc->value("hash", "")));
      for (const auto& line : replicas_text(*doc)) out.text(line);
      return kExitOk;
    };
  });

  app.add_subcommand("repair", "Run a repair round on the running node now")->callback([&action] {
    action = [](const GlobalOptions& g, const Output& out) {
      auto doc = node_call(node_remote(g), "POST", "/v1/replication/repair");
      if (!doc) return out.error(doc.error());
      out.document(*doc);
      out.text(round_text(*doc));
      return kExitOk;
    };
  });

  app.add_subcommand("scrub", "Verify the running node's store; fetch damaged replicas again from peers")
      ->callback([&action] {
        action = [](const GlobalOptions& g, const Output& out) {
          auto doc = node_call(node_remote(g), "POST", "/v1/replication/scrub");
          if (!doc) return out.error(doc.error());
          out.document(*doc);
          out.text(scrub_text(*doc));
          for (const auto& f : (*doc)["failed"]) out.text(fmt::format("  not repaired: {}", f.get<std::string>()));
          return doc->value("failed", nlohmann::json::array()).empty() ? kExitOk : kExitFailure;
        };
      });
}

}  // namespace bzzz::cli
