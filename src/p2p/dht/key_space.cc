#include "p2p/dht/key_space.h"

#include <algorithm>
#include <bit>

#include <sodium.h>

namespace bzzz::p2p::dht {

KadId kad_id(std::span<const uint8_t> key) {
  KadId id;
  crypto_hash_sha256(id.bytes.data(), key.data(), key.size());
  return id;
}

KadId distance(const KadId& a, const KadId& b) {
  KadId d;
  for (size_t i = 0; i < d.bytes.size(); ++i) d.bytes[i] = a.bytes[i] ^ b.bytes[i];
  return d;
}

int common_prefix_length(const KadId& a, const KadId& b) {
  for (size_t i = 0; i < a.bytes.size(); ++i) {
    uint8_t x = a.bytes[i] ^ b.bytes[i];
    if (x != 0) return static_cast<int>(i * 8) + std::countl_zero(x);
  }
  return static_cast<int>(kKeyBits);
}

bool closer(const KadId& a, const KadId& b, const KadId& target) {
  for (size_t i = 0; i < a.bytes.size(); ++i) {
    uint8_t da = a.bytes[i] ^ target.bytes[i];
    uint8_t db = b.bytes[i] ^ target.bytes[i];
    if (da != db) return da < db;
  }
  return false;
}

Bytes random_key_with_cpl(const KadId& self, int cpl) {
  cpl = std::clamp(cpl, 0, kMaxRefreshCpl);
  Bytes key(16);
  for (;;) {
    randombytes_buf(key.data(), key.size());
    if (common_prefix_length(self, kad_id(key)) == cpl) return key;
  }
}

}  // namespace bzzz::p2p::dht
