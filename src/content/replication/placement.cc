#include "content/replication/placement.h"

#include <algorithm>

namespace bzzz::replication {

p2p::dht::KadId blob_place(const Hash& hash) {
  auto key = hash.multihash();
  return p2p::dht::kad_id(key);
}

std::vector<p2p::PeerId> rank(const Hash& hash, std::vector<p2p::PeerId> candidates) {
  const auto target = blob_place(hash);
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  std::vector<std::pair<p2p::dht::KadId, p2p::PeerId>> placed;
  placed.reserve(candidates.size());
  for (auto& c : candidates) placed.emplace_back(p2p::dht::distance(p2p::dht::kad_id(c), target), std::move(c));
  std::sort(placed.begin(), placed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<p2p::PeerId> out;
  out.reserve(placed.size());
  for (auto& [d, p] : placed) out.push_back(std::move(p));
  return out;
}

std::vector<p2p::PeerId> responsible(const Hash& hash, std::vector<p2p::PeerId> candidates, size_t factor) {
  auto ranked = rank(hash, std::move(candidates));
  if (ranked.size() > factor) ranked.resize(factor);
  return ranked;
}

}  // namespace bzzz::replication
