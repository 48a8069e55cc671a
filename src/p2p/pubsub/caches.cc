#include "p2p/pubsub/caches.h"

namespace bzzz::p2p::pubsub {

bool SeenCache::add(const std::string& id, Clock::time_point now) {
  auto [it, inserted] = ids_.emplace(id, now + ttl_);
  if (!inserted) return false;
  order_.emplace_back(now + ttl_, id);
  return true;
}

void SeenCache::expire(Clock::time_point now) {
  while (!order_.empty() && order_.front().first <= now) {
    ids_.erase(order_.front().second);
    order_.pop_front();
  }
}

MessageCache::MessageCache(size_t windows, size_t gossip) : gossip_(gossip) {
  windows_.resize(windows == 0 ? 1 : windows);
}

void MessageCache::put(const std::string& id, const pb::Message& msg) {
  if (!messages_.emplace(id, Entry{msg, {}}).second) return;
  windows_.front().emplace_back(id, msg.topic());
}

const pb::Message* MessageCache::get(const std::string& id) const {
  auto it = messages_.find(id);
  return it == messages_.end() ? nullptr : &it->second.msg;
}

size_t MessageCache::count_request(const std::string& id, const std::string& peer_key) {
  auto it = messages_.find(id);
  if (it == messages_.end()) return 0;
  return ++it->second.requests[peer_key];
}

std::vector<std::string> MessageCache::gossip_ids(const std::string& topic) const {
  std::vector<std::string> out;
  for (size_t w = 0; w < gossip_ && w < windows_.size(); ++w) {
    for (const auto& [id, t] : windows_[w]) {
      if (t == topic) out.push_back(id);
    }
  }
  return out;
}

void MessageCache::shift() {
  for (const auto& [id, topic] : windows_.back()) messages_.erase(id);
  windows_.pop_back();
  windows_.emplace_front();
}

}  // namespace bzzz::p2p::pubsub
