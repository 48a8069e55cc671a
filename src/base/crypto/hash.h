// base/crypto: the content hash type. A Hash is the 32-byte BLAKE3-256 of a blob's
// original bytes; its text form is lowercase hex (exactly what b3sum prints), and a
// CIDv1 (multibase base32 'b', codec raw 0x55, multihash blake3 0x1e) is accepted and
// can be shown for IPFS tools.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "base/status/result.h"

namespace bzzz {

inline constexpr size_t kHashSize = 32;

class Hash {
 public:
  Hash() { bytes_.fill(0); }
  explicit Hash(std::span<const uint8_t, kHashSize> bytes) {
    std::memcpy(bytes_.data(), bytes.data(), kHashSize);
  }

  // Accepts 64 hex digits (either case) or a CIDv1 raw/blake3 in base32 ("bafkr4i...").
  // The error names the input and what is wrong with it.
  static Result<Hash> parse(std::string_view text);
  static Result<Hash> from_bytes(std::span<const uint8_t> bytes);

  std::string hex() const;
  std::string cid() const;
  // The multihash (blake3 0x1e, length 32, digest): what a CID wraps, and the key under
  // which the DHT's provider records name a blob.
  std::array<uint8_t, 2 + kHashSize> multihash() const;
  std::span<const uint8_t, kHashSize> bytes() const { return bytes_; }
  const uint8_t* data() const { return bytes_.data(); }

  auto operator<=>(const Hash&) const = default;

 private:
  std::array<uint8_t, kHashSize> bytes_;
};

struct HashHasher {
  size_t operator()(const Hash& h) const {
    size_t v;
    std::memcpy(&v, h.data(), sizeof v);  // the hash is uniformly distributed already
    return v;
  }
};

}  // namespace bzzz
