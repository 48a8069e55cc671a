#include "p2p/dht/routing_table.h"

#include <algorithm>

namespace bzzz::p2p::dht {

RoutingTable::RoutingTable(PeerId self, size_t k, size_t max_failures)
    : self_(std::move(self)),
      self_kad_(kad_id(self_)),
      k_(std::max<size_t>(k, 1)),
      max_failures_(std::max<size_t>(max_failures, 1)),
      buckets_(kKeyBits) {}

int RoutingTable::bucket_of(const KadId& kad) const {
  return std::min(common_prefix_length(self_kad_, kad), static_cast<int>(kKeyBits) - 1);
}

RoutingTable::AddResult RoutingTable::add(const PeerId& peer, std::chrono::system_clock::time_point now) {
  if (peer == self_) return AddResult::kSelf;
  KadId kad = kad_id(peer);
  int index = bucket_of(kad);
  std::lock_guard lock(mutex_);
  Bucket& b = buckets_[static_cast<size_t>(index)];
  for (auto& e : b.peers) {
    if (e.id == peer) {
      e.last_seen = now;
      e.failures = 0;
      return AddResult::kUpdated;
    }
  }
  RoutingEntry entry{peer, kad, index, now, now, 0};
  if (b.peers.size() < k_) {
    b.peers.push_back(std::move(entry));
    ++size_;
    std::erase_if(b.replacements, [&](const RoutingEntry& r) { return r.id == peer; });
    return AddResult::kAdded;
  }
  // Full: the member failing most (if any failed at all) makes room.
  auto worst = std::max_element(b.peers.begin(), b.peers.end(),
                                [](const RoutingEntry& x, const RoutingEntry& y) { return x.failures < y.failures; });
  if (worst->failures > 0) {
    *worst = std::move(entry);
    std::erase_if(b.replacements, [&](const RoutingEntry& r) { return r.id == peer; });
    return AddResult::kReplaced;
  }
  std::erase_if(b.replacements, [&](const RoutingEntry& r) { return r.id == peer; });
  b.replacements.push_back(std::move(entry));
  while (b.replacements.size() > k_) b.replacements.pop_front();
  return AddResult::kPending;
}

void RoutingTable::promote(Bucket& b) {
  if (b.replacements.empty() || b.peers.size() >= k_) return;
  b.peers.push_back(std::move(b.replacements.back()));
  b.replacements.pop_back();
  b.peers.back().failures = 0;
  ++size_;
}

bool RoutingTable::mark_failed(const PeerId& peer) {
  int index = bucket_of(kad_id(peer));
  std::lock_guard lock(mutex_);
  Bucket& b = buckets_[static_cast<size_t>(index)];
  std::erase_if(b.replacements, [&](const RoutingEntry& r) { return r.id == peer; });
  for (auto it = b.peers.begin(); it != b.peers.end(); ++it) {
    if (it->id != peer) continue;
    if (++it->failures < max_failures_) return false;
    b.peers.erase(it);
    --size_;
    promote(b);
    return true;
  }
  return false;
}

bool RoutingTable::remove(const PeerId& peer) {
  int index = bucket_of(kad_id(peer));
  std::lock_guard lock(mutex_);
  Bucket& b = buckets_[static_cast<size_t>(index)];
  std::erase_if(b.replacements, [&](const RoutingEntry& r) { return r.id == peer; });
  auto n = std::erase_if(b.peers, [&](const RoutingEntry& e) { return e.id == peer; });
  if (n == 0) return false;
  size_ -= n;
  promote(b);
  return true;
}

std::vector<PeerId> RoutingTable::closest(const KadId& target, size_t count) const {
  std::vector<std::pair<KadId, PeerId>> all;
  {
    std::lock_guard lock(mutex_);
    all.reserve(size_);
    for (const auto& b : buckets_) {
      for (const auto& e : b.peers) all.emplace_back(distance(e.kad, target), e.id);
    }
  }
  count = std::min(count, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(count), all.end(),
                    [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<PeerId> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) out.push_back(std::move(all[i].second));
  return out;
}

bool RoutingTable::contains(const PeerId& peer) const {
  int index = bucket_of(kad_id(peer));
  std::lock_guard lock(mutex_);
  const auto& peers = buckets_[static_cast<size_t>(index)].peers;
  return std::any_of(peers.begin(), peers.end(), [&](const RoutingEntry& e) { return e.id == peer; });
}

size_t RoutingTable::size() const {
  std::lock_guard lock(mutex_);
  return size_;
}

std::vector<RoutingEntry> RoutingTable::entries() const {
  std::lock_guard lock(mutex_);
  std::vector<RoutingEntry> out;
  out.reserve(size_);
  for (const auto& b : buckets_) out.insert(out.end(), b.peers.begin(), b.peers.end());
  return out;
}

int RoutingTable::max_bucket() const {
  std::lock_guard lock(mutex_);
  for (int i = static_cast<int>(kKeyBits) - 1; i >= 0; --i) {
    if (!buckets_[static_cast<size_t>(i)].peers.empty()) return i;
  }
  return -1;
}

}  // namespace bzzz::p2p::dht
