#include "cli/peer_commands.h"

#include <fmt/format.h>

#include "cli/remote_backend.h"
#include "p2p/identity/peer_id.h"
#include "p2p/multiaddr/multiaddr.h"

namespace bzzz::cli {

namespace {

std::string latency_text(const nlohmann::json& v) {
  return v.is_number() ? fmt::format("{:.2f} ms", v.get<double>()) : "-";
}

int run_peers(const GlobalOptions& g, const Output& out) {
  auto doc = node_call(node_remote(g), "GET", "/v1/peers");
  if (!doc) return out.error(doc.error());
  out.document(*doc);
  out.text(fmt::format("this node: {}", doc->value("id", "")));
  for (const auto& a : (*doc)["listen_addrs"]) out.text(fmt::format("  listening on {}", a.get<std::string>()));
  size_t connected = 0;
  for (const auto& p : (*doc)["peers"]) connected += p.value("connected", false) ? 1 : 0;
  out.text(fmt::format("{} peers known, {} connected", (*doc)["peers"].size(), connected));
  for (const auto& p : (*doc)["peers"]) {
    std::string addr = "-";
    if (!p["connections"].empty()) {
      addr = p["connections"][0].value("remote_addr", "-");
    } else if (!p["addrs"].empty()) {
      addr = p["addrs"][0].get<std::string>();
    }
    out.text(fmt::format("{}  {:<9}  {:>9}  {}  {}", p.value("id", ""),
                         p.value("connected", false) ? "connected" : "-", latency_text(p["latency_ms"]), addr,
                         p.value("agent_version", "")));
  }
  return kExitOk;
}

}  // namespace

RemoteOptions node_remote(const GlobalOptions& g) {
  RemoteOptions r;
  r.url = g.api_url;
  r.token = g.api_token;
  r.io_timeout = std::chrono::milliseconds(60'000);
  return r;
}

void add_peer_commands(CLI::App& app, Action& action) {
  app.add_subcommand("peers", "List the running node's libp2p peers")->callback([&action] { action = run_peers; });

  auto addr = std::make_shared<std::string>();
  auto* connect = app.add_subcommand("connect", "Ask the running node to connect to a peer");
  connect->add_option("multiaddr", *addr, "e.g. /ip4/10.0.0.2/tcp/9000/p2p/12D3KooW...")->required();
  connect->callback([&action, addr] {
    action = [addr](const GlobalOptions& g, const Output& out) {
      auto parsed = p2p::Multiaddr::parse(*addr);
      if (!parsed) return out.error(parsed.error(), kExitUsage);
      nlohmann::json body = {{"addr", parsed->to_string()}};
      auto doc = node_call(node_remote(g), "POST", "/v1/peers/connect", &body);
      if (!doc) return out.error(doc.error());
      out.document(*doc);
      out.text(fmt::format("connected to {} at {} ({:.1f} ms)", doc->value("peer", ""), doc->value("addr", ""),
                           doc->value("connect_ms", 0.0)));
      return kExitOk;
    };
  });

  auto peer = std::make_shared<std::string>();
  auto* disconnect = app.add_subcommand("disconnect", "Ask the running node to close its connections to a peer");
  disconnect->add_option("peer", *peer, "peer id")->required();
  disconnect->callback([&action, peer] {
    action = [peer](const GlobalOptions& g, const Output& out) {
      auto id = p2p::PeerId::parse(*peer);
      if (!id) return out.error(id.error(), kExitUsage);
      auto doc = node_call(node_remote(g), "DELETE", "/v1/peers/" + id->to_string());
      if (!doc) return out.error(doc.error());
      out.document(*doc);
      out.text(fmt::format("disconnected from {}", id->to_string()));
      return kExitOk;
    };
  });

  auto target = std::make_shared<std::string>();
  auto count = std::make_shared<int>(3);
  auto* ping = app.add_subcommand("ping", "Ping a peer (/ipfs/ping/1.0.0) from the running node");
  ping->add_option("peer", *target, "a peer id, or a multiaddr to connect to first")->required();
  ping->add_option("-c,--count", *count, "round trips (1-100)")->check(CLI::Range(1, 100));
  ping->callback([&action, target, count] {
    action = [target, count](const GlobalOptions& g, const Output& out) {
      if (target->empty() || (*target)[0] == '/') {
        auto parsed = p2p::Multiaddr::parse(*target);
        if (!parsed) return out.error(parsed.error(), kExitUsage);
      } else if (auto id = p2p::PeerId::parse(*target); !id) {
        return out.error(id.error(), kExitUsage);
      }
      nlohmann::json body = {{"peer", *target}, {"count", *count}};
      auto doc = node_call(node_remote(g), "POST", "/v1/peers/ping", &body);
      if (!doc) return out.error(doc.error());
      out.document(*doc);
      for (const auto& rtt : (*doc)["rtt_ms"]) {
        out.text(fmt::format("pong from {}: time={:.3f} ms", doc->value("peer", ""), rtt.get<double>()));
      }
      return kExitOk;
    };
  });
}

}  // namespace bzzz::cli
