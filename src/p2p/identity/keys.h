// p2p/identity: the keys a libp2p peer is known by. Ed25519 only (what every libp2p
// implementation must support and what bzzz nodes use), on libsodium. The PublicKey and
// PrivateKey protobufs are written by hand: two fields, deterministic as the spec
// requires (minimal varints, fields in tag order, all present).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status/result.h"

namespace bzzz::p2p {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

// KeyType of the libp2p crypto protobuf.
enum class KeyType : uint8_t { kRsa = 0, kEd25519 = 1, kSecp256k1 = 2, kEcdsa = 3 };

struct PublicKey {
  KeyType type = KeyType::kEd25519;
  std::vector<uint8_t> data;  // raw 32 bytes for Ed25519

  // `message PublicKey { required KeyType Type = 1; required bytes Data = 2; }`
  std::vector<uint8_t> encode() const;
  static Result<PublicKey> decode(std::span<const uint8_t> bytes);
  // Ed25519 only; false for a bad signature or a key of another type.
  bool verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const;
  bool operator==(const PublicKey&) const = default;
};

class PrivateKey {
 public:
  static PrivateKey generate();
  static PrivateKey from_seed(std::span<const uint8_t, 32> seed);
  // The libp2p PrivateKey protobuf: Type = Ed25519, Data = seed || public key (64 bytes).
  std::vector<uint8_t> encode() const;
  static Result<PrivateKey> decode(std::span<const uint8_t> bytes);

  const PublicKey& public_key() const { return public_; }
  std::array<uint8_t, kEd25519SignatureSize> sign(std::span<const uint8_t> message) const;

 private:
  std::array<uint8_t, 64> secret_{};  // libsodium's form: seed || public key
  PublicKey public_;
};

}  // namespace bzzz::p2p
