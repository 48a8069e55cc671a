#include "p2p/identity/keys.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "base/encoding/varint.h"

namespace bzzz::p2p {

namespace {

void init_sodium() {
  static const bool ready = [] {
    if (sodium_init() < 0) std::abort();  // libsodium cannot work: nothing safe to do
    return true;
  }();
  (void)ready;
}

std::vector<uint8_t> encode_key(KeyType type, std::span<const uint8_t> data) {
  std::vector<uint8_t> out{0x08};  // field 1, varint
  varint_append(out, static_cast<uint8_t>(type));
  out.push_back(0x12);  // field 2, length-delimited
  varint_append(out, data.size());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

struct KeyFields {
  KeyType type;
  std::vector<uint8_t> data;
};

// Parses the two-field key protobuf, in any field order, refusing unknown fields, wire
// types other than the expected ones, and missing fields.
Result<KeyFields> decode_key(std::span<const uint8_t> in, const char* what) {
  std::optional<uint64_t> type;
  std::optional<std::vector<uint8_t>> data;
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("malformed {}: {}", what, why));
  };
  while (!in.empty()) {
    auto tag = varint_read(in);
    if (!tag) return bad(tag.error().message());
    if (*tag == 0x08) {
      auto v = varint_read(in);
      if (!v) return bad(v.error().message());
      type = *v;
    } else if (*tag == 0x12) {
      auto len = varint_read(in);
      if (!len) return bad(len.error().message());
      if (*len > in.size()) return bad(fmt::format("field Data claims {} bytes, {} remain", *len, in.size()));
      data.emplace(in.begin(), in.begin() + static_cast<ptrdiff_t>(*len));
      in = in.subspan(static_cast<size_t>(*len));
    } else {
      return bad(fmt::format("unexpected field tag {:#x}", *tag));
    }
  }
  if (!type || !data) return bad(type ? "no Data field" : "no Type field");
  if (*type > 3) return bad(fmt::format("unknown key type {}", *type));
  return KeyFields{static_cast<KeyType>(*type), std::move(*data)};
}

}  // namespace

std::vector<uint8_t> PublicKey::encode() const { return encode_key(type, data); }

Result<PublicKey> PublicKey::decode(std::span<const uint8_t> bytes) {
  BZZZ_ASSIGN_OR_RETURN(auto fields, decode_key(bytes, "public key"));
  if (fields.type == KeyType::kEd25519 && fields.data.size() != kEd25519PublicKeySize) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("malformed public key: an Ed25519 key has 32 bytes, not {}", fields.data.size()));
  }
  return PublicKey{fields.type, std::move(fields.data)};
}

bool PublicKey::verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const {
  if (type != KeyType::kEd25519 || data.size() != kEd25519PublicKeySize ||
      signature.size() != kEd25519SignatureSize) {
    return false;
  }
  init_sodium();
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(), data.data()) == 0;
}

PrivateKey PrivateKey::generate() {
  init_sodium();
  std::array<uint8_t, 32> seed;
  randombytes_buf(seed.data(), seed.size());
  auto key = from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

PrivateKey PrivateKey::from_seed(std::span<const uint8_t, 32> seed) {
  init_sodium();
  PrivateKey key;
  std::array<uint8_t, kEd25519PublicKeySize> pk;
  crypto_sign_seed_keypair(pk.data(), key.secret_.data(), seed.data());
  key.public_ = PublicKey{KeyType::kEd25519, std::vector<uint8_t>(pk.begin(), pk.end())};
  return key;
}

std::vector<uint8_t> PrivateKey::encode() const { return encode_key(KeyType::kEd25519, secret_); }

Result<PrivateKey> PrivateKey::decode(std::span<const uint8_t> bytes) {
  BZZZ_ASSIGN_OR_RETURN(auto fields, decode_key(bytes, "private key"));
  if (fields.type != KeyType::kEd25519) {
    return make_error(ErrorCode::kInvalidArgument, "only Ed25519 private keys are supported");
  }
  // js writes seed || public key (64 bytes); a bare 32-byte seed is accepted too.
  if (fields.data.size() != 64 && fields.data.size() != 32) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("malformed private key: {} bytes of Ed25519 key data", fields.data.size()));
  }
  std::array<uint8_t, 32> seed;
  std::memcpy(seed.data(), fields.data.data(), 32);
  auto key = from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  bool mismatched = fields.data.size() == 64 &&
                    std::memcmp(fields.data.data() + 32, key.public_.data.data(), 32) != 0;
  sodium_memzero(fields.data.data(), fields.data.size());
  if (mismatched) {
    return make_error(ErrorCode::kInvalidArgument,
                      "malformed private key: its public half does not belong to its seed");
  }
  return key;
}

std::array<uint8_t, kEd25519SignatureSize> PrivateKey::sign(std::span<const uint8_t> message) const {
  init_sodium();
  std::array<uint8_t, kEd25519SignatureSize> sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

}  // namespace bzzz::p2p
