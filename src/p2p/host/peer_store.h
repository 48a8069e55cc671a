// p2p/host: what this node knows about other peers: addresses, protocols, agent and
// protocol version (from identify), when they were last seen, the last ping's round
// trip, and whether they are connected now. In memory; thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "p2p/identity/peer_id.h"
#include "p2p/multiaddr/multiaddr.h"

namespace bzzz::p2p {

struct PeerRecord {
  PeerId id;
  std::vector<Multiaddr> addrs;  // without /p2p; the dialed or listened-on ones first
  std::vector<std::string> protocols;
  std::string agent_version;
  std::string protocol_version;
  std::optional<Multiaddr> observed_addr;  // how the peer sees us
  std::chrono::system_clock::time_point last_seen{};
  std::optional<std::chrono::microseconds> latency;
  size_t connections = 0;
  bool identified = false;
};

class PeerStore {
 public:
  // Adds addresses (deduplicated, most recent first; at most kMaxAddrs kept).
  static constexpr size_t kMaxAddrs = 16;
  void add_addrs(const PeerId& id, const std::vector<Multiaddr>& addrs);
  void set_identify(const PeerId& id, std::vector<std::string> protocols, std::string agent,
                    std::string protocol_version, std::optional<Multiaddr> observed);
  void set_latency(const PeerId& id, std::chrono::microseconds rtt);
  void connected(const PeerId& id);
  void disconnected(const PeerId& id);

  std::optional<PeerRecord> get(const PeerId& id) const;
  std::vector<PeerRecord> all() const;
  std::vector<Multiaddr> addrs(const PeerId& id) const;

 private:
  PeerRecord& entry(const PeerId& id);  // mutex_ held
  mutable std::mutex mutex_;
  std::map<PeerId, PeerRecord> peers_;
};

}  // namespace bzzz::p2p
