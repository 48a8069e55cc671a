// p2p/identity: peer ids. A peer id is the multihash of a PublicKey protobuf: the
// identity multihash when that is at most 42 bytes (Ed25519: "12D3KooW..."), else
// sha2-256 ("Qm..."). Text forms: base58btc, and CIDv1 with the libp2p-key codec in
// base32 ("bafz..."); both are parsed, base58btc is printed.
#pragma once

#include <compare>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status/result.h"
#include "p2p/identity/keys.h"

namespace bzzz::p2p {

class PeerId {
 public:
  static PeerId from_public_key(const PublicKey& key);
  // base58btc multihash or CIDv1 (libp2p-key, base32 'b'). Errors name the text.
  static Result<PeerId> parse(std::string_view text);
  // The binary multihash, as multiaddrs and protobufs carry it.
  static Result<PeerId> from_bytes(std::span<const uint8_t> bytes);

  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::string to_string() const;  // base58btc
  std::string to_cid() const;      // "bafz..."
  // The key an identity multihash embeds (Ed25519 peers); nullopt for hashed ids.
  std::optional<PublicKey> public_key() const;
  bool matches(const PublicKey& key) const { return *this == from_public_key(key); }

  // Out of line: g++ 12 inlines vector's <=> into a false -Wstringop-overread.
  std::strong_ordering operator<=>(const PeerId& other) const;
  bool operator==(const PeerId& other) const;

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace bzzz::p2p
