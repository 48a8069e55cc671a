// p2p/dht: the Kademlia routing table. Peers sit in the bucket of the number of leading
// bits their place shares with ours (0..255), at most k per bucket. Only server-mode
// peers are added (the caller decides). A full bucket takes a newcomer only in place
// of a peer that has failed a request; otherwise the newcomer waits in the bucket's
// replacement list and moves in when a member is dropped (max_failures failed requests
// in a row). Thread-safe; no I/O; depends on p2p/identity and key_space only.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "p2p/dht/key_space.h"
#include "p2p/identity/peer_id.h"

namespace bzzz::p2p::dht {

struct RoutingEntry {
  PeerId id;
  KadId kad;
  int bucket = 0;
  std::chrono::system_clock::time_point added{};
  std::chrono::system_clock::time_point last_seen{};
  size_t failures = 0;  // failed requests since the last success
};

class RoutingTable {
 public:
  RoutingTable(PeerId self, size_t k, size_t max_failures);

  enum class AddResult {
    kAdded,     // a new member
    kUpdated,   // already a member: seen now, failures cleared
    kReplaced,  // a new member in place of a failing one
    kPending,   // the bucket is full: in its replacement list
    kSelf,      // our own id: never added
  };
  AddResult add(const PeerId& peer, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  // One failed request. Returns true when the peer was dropped for it (its bucket's
  // most recently seen replacement takes its place).
  bool mark_failed(const PeerId& peer);
  bool remove(const PeerId& peer);

  // Members, closest to `target` first.
  std::vector<PeerId> closest(const KadId& target, size_t count) const;
  bool contains(const PeerId& peer) const;
  size_t size() const;
  std::vector<RoutingEntry> entries() const;
  // The highest bucket index holding a peer; -1 when empty.
  int max_bucket() const;
  size_t k() const { return k_; }
  const KadId& self() const { return self_kad_; }

 private:
  struct Bucket {
    std::vector<RoutingEntry> peers;
    std::deque<RoutingEntry> replacements;  // most recently seen last
  };
  int bucket_of(const KadId& kad) const;
  void promote(Bucket& bucket);  // mutex_ held

  const PeerId self_;
  const KadId self_kad_;
  const size_t k_;
  const size_t max_failures_;
  mutable std::mutex mutex_;
  std::vector<Bucket> buckets_;  // kKeyBits of them
  size_t size_ = 0;
};

}  // namespace bzzz::p2p::dht
