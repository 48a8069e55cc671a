#include "p2p/host/peer_store.h"

#include <algorithm>

namespace bzzz::p2p {

PeerRecord& PeerStore::entry(const PeerId& id) {
  auto it = peers_.find(id);
  if (it == peers_.end()) {
    it = peers_.emplace(id, PeerRecord{}).first;
    it->second.id = id;
  }
  return it->second;
}

void PeerStore::add_addrs(const PeerId& id, const std::vector<Multiaddr>& addrs) {
  std::lock_guard lock(mutex_);
  auto& e = entry(id);
  for (auto it = addrs.rbegin(); it != addrs.rend(); ++it) {
    Multiaddr a = it->without_peer_id();
    e.addrs.erase(std::remove(e.addrs.begin(), e.addrs.end(), a), e.addrs.end());
    e.addrs.insert(e.addrs.begin(), std::move(a));
  }
  if (e.addrs.size() > kMaxAddrs) e.addrs.resize(kMaxAddrs);
}

void PeerStore::set_identify(const PeerId& id, std::vector<std::string> protocols, std::string agent,
                             std::string protocol_version, std::optional<Multiaddr> observed) {
  std::lock_guard lock(mutex_);
  auto& e = entry(id);
  e.protocols = std::move(protocols);
  e.agent_version = std::move(agent);
  e.protocol_version = std::move(protocol_version);
  e.observed_addr = std::move(observed);
  e.identified = true;
  e.last_seen = std::chrono::system_clock::now();
}

void PeerStore::set_latency(const PeerId& id, std::chrono::microseconds rtt) {
  std::lock_guard lock(mutex_);
  auto& e = entry(id);
  e.latency = rtt;
  e.last_seen = std::chrono::system_clock::now();
}

void PeerStore::connected(const PeerId& id) {
  std::lock_guard lock(mutex_);
  auto& e = entry(id);
  ++e.connections;
  e.last_seen = std::chrono::system_clock::now();
}

void PeerStore::disconnected(const PeerId& id) {
  std::lock_guard lock(mutex_);
  auto& e = entry(id);
  if (e.connections > 0) --e.connections;
  e.last_seen = std::chrono::system_clock::now();
}

std::optional<PeerRecord> PeerStore::get(const PeerId& id) const {
  std::lock_guard lock(mutex_);
  auto it = peers_.find(id);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

std::vector<PeerRecord> PeerStore::all() const {
  std::lock_guard lock(mutex_);
  std::vector<PeerRecord> out;
  out.reserve(peers_.size());
  for (const auto& [id, rec] : peers_) out.push_back(rec);
  return out;
}

std::vector<Multiaddr> PeerStore::addrs(const PeerId& id) const {
  std::lock_guard lock(mutex_);
  auto it = peers_.find(id);
  return it == peers_.end() ? std::vector<Multiaddr>{} : it->second.addrs;
}

}  // namespace bzzz::p2p
