// p2p/dht: the Kademlia key space. Every key (a peer id's bytes, a record key, a
// provider key) is placed at sha256(key); the distance of two places is their XOR, read
// as a 256-bit big-endian number. Pure functions; depends on p2p/identity only.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <vector>

#include "p2p/identity/peer_id.h"

namespace bzzz::p2p::dht {

using Bytes = std::vector<uint8_t>;

inline constexpr size_t kKeyBits = 256;

// A place in the key space: sha256 of a key.
struct KadId {
  std::array<uint8_t, 32> bytes{};
  auto operator<=>(const KadId&) const = default;
};

KadId kad_id(std::span<const uint8_t> key);
inline KadId kad_id(const PeerId& peer) { return kad_id(peer.bytes()); }

// XOR of the two; compares (operator<) as the distance itself.
KadId distance(const KadId& a, const KadId& b);
// Leading bits a and b share: 256 when equal. The bucket of `b` in a's routing table.
int common_prefix_length(const KadId& a, const KadId& b);
// Whether `a` is closer to `target` than `b`.
bool closer(const KadId& a, const KadId& b, const KadId& target);

// A random key (16 bytes) whose place shares exactly `cpl` leading bits with `self`, to
// refresh that bucket. Found by trying: about 2^(cpl+1) hashes, so keep cpl small
// (refresh asks for at most kMaxRefreshCpl).
inline constexpr int kMaxRefreshCpl = 15;
Bytes random_key_with_cpl(const KadId& self, int cpl);

}  // namespace bzzz::p2p::dht
