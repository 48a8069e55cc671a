// content/replication: where a blob's replicas belong. Pure functions.
//
// A blob and a peer are placed in the Kademlia key space of p2p/dht: the blob at
// sha256 of its BLAKE3 multihash (the key its provider records are stored under), the
// peer at sha256 of its id. The `factor` candidates closest to the blob by XOR distance
// are responsible for it, so a provider lookup for the blob meets its replicas first,
// and every node that knows the same live peers picks the same ones.
#pragma once

#include <vector>

#include "base/crypto/hash.h"
#include "p2p/dht/key_space.h"
#include "p2p/identity/peer_id.h"

namespace bzzz::replication {

// The place of a blob in the key space.
p2p::dht::KadId blob_place(const Hash& hash);

// `candidates` ordered by distance to the blob, closest first (duplicates removed).
std::vector<p2p::PeerId> rank(const Hash& hash, std::vector<p2p::PeerId> candidates);

// The `factor` candidates closest to the blob (all of them when there are fewer).
std::vector<p2p::PeerId> responsible(const Hash& hash, std::vector<p2p::PeerId> candidates, size_t factor);

}  // namespace bzzz::replication
