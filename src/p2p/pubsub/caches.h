// p2p/pubsub: the two memories of a gossipsub router. The seen cache remembers message
// ids for seen_ttl so a message reaches the application once; the message cache keeps
// the messages of the last few heartbeats, for IHAVE gossip and IWANT answers. Not
// thread-safe (the router's mutex guards them).
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "p2p/proto/pubsub.pb.h"

namespace bzzz::p2p::pubsub {

class SeenCache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit SeenCache(std::chrono::milliseconds ttl) : ttl_(ttl) {}
  // True when `id` was new (and is now remembered).
  bool add(const std::string& id, Clock::time_point now);
  bool contains(const std::string& id) const { return ids_.count(id) != 0; }
  void expire(Clock::time_point now);
  size_t size() const { return ids_.size(); }

 private:
  std::chrono::milliseconds ttl_;
  std::unordered_map<std::string, Clock::time_point> ids_;
  std::deque<std::pair<Clock::time_point, std::string>> order_;
};

class MessageCache {
 public:
  // `windows` heartbeats are kept; gossip covers the newest `gossip` of them.
  MessageCache(size_t windows, size_t gossip);
  void put(const std::string& id, const pb::Message& msg);
  const pb::Message* get(const std::string& id) const;
  // How often `peer_key` asked for `id` (IWANT answers are capped per peer).
  size_t count_request(const std::string& id, const std::string& peer_key);
  // The ids of the gossip windows for `topic`.
  std::vector<std::string> gossip_ids(const std::string& topic) const;
  // Heartbeat: the oldest window's messages are forgotten.
  void shift();
  size_t size() const { return messages_.size(); }

 private:
  struct Entry {
    pb::Message msg;
    std::map<std::string, size_t> requests;
  };
  size_t gossip_;
  std::deque<std::vector<std::pair<std::string, std::string>>> windows_;  // (id, topic)
  std::unordered_map<std::string, Entry> messages_;
};

}  // namespace bzzz::p2p::pubsub
