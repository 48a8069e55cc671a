#include "base/crypto/hash.h"

#include <optional>
#include <vector>

#include <fmt/format.h>

#include "base/encoding/base32.h"
#include "base/encoding/hex.h"

namespace bzzz {

namespace {

// Multicodec / multihash codes of the one CID shape a Hash can be.
constexpr uint64_t kCidVersion = 1;
constexpr uint64_t kCodecRaw = 0x55;
constexpr uint64_t kMultihashBlake3 = 0x1e;
constexpr uint8_t kCidPrefix[] = {0x01, 0x55, 0x1e, 0x20};

tl::unexpected<Error> invalid(std::string_view text, std::string_view why) {
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("invalid hash {}: {}", quoted(text), why));
}

// Unsigned LEB128 as multiformats uses it (at most 9 bytes).
std::optional<uint64_t> read_varint(std::span<const uint8_t>& in) {
  uint64_t value = 0;
  for (size_t i = 0; i < in.size() && i < 9; ++i) {
    value |= static_cast<uint64_t>(in[i] & 0x7f) << (7 * i);
    if ((in[i] & 0x80) == 0) {
      in = in.subspan(i + 1);
      return value;
    }
  }
  return std::nullopt;
}

std::string_view codec_hint(uint64_t codec) {
  switch (codec) {
    case 0x70: return " (dag-pb)";
    case 0x71: return " (dag-cbor)";
    case 0x0129: return " (dag-json)";
    default: return "";
  }
}

std::string_view multihash_hint(uint64_t code) {
  switch (code) {
    case 0x12: return " (sha2-256)";
    case 0x13: return " (sha2-512)";
    case 0x16: return " (sha3-256)";
    case 0xb220: return " (blake2b-256)";
    default: return "";
  }
}

Result<Hash> parse_cid(std::string_view text) {
  auto decoded = base32_decode(text.substr(1));
  if (!decoded) {
    return invalid(text, fmt::format("CID after the multibase prefix '{}' is not base32: {}",
                                     text[0], decoded.error().message()));
  }
  std::span<const uint8_t> in(*decoded);
  auto version = read_varint(in);
  if (!version) return invalid(text, "CID is truncated");
  if (*version != kCidVersion) {
    return invalid(text, fmt::format("not a CIDv1 (version {})", *version));
  }
  auto codec = read_varint(in);
  if (!codec) return invalid(text, "CID is truncated");
  if (*codec != kCodecRaw) {
    return invalid(text, fmt::format("not a raw CID (codec 0x{:x}{})", *codec,
                                     codec_hint(*codec)));
  }
  auto mh_code = read_varint(in);
  if (!mh_code) return invalid(text, "CID is truncated");
  if (*mh_code != kMultihashBlake3) {
    return invalid(text, fmt::format("multihash is not blake3 (0x{:x}{})", *mh_code,
                                     multihash_hint(*mh_code)));
  }
  auto mh_len = read_varint(in);
  if (!mh_len) return invalid(text, "CID is truncated");
  if (*mh_len != kHashSize) {
    return invalid(text, fmt::format("blake3 digest length is {}, expected {}", *mh_len,
                                     kHashSize));
  }
  if (in.size() != kHashSize) {
    return invalid(text, fmt::format("CID carries {} digest bytes, expected {}", in.size(),
                                     kHashSize));
  }
  return Hash(in.first<kHashSize>());
}

}  // namespace

Result<Hash> Hash::parse(std::string_view text) {
  if (text.size() == 2 * kHashSize) {
    auto bytes = hex_decode(text);
    if (!bytes) return invalid(text, bytes.error().message());
    return Hash(std::span<const uint8_t, kHashSize>(bytes->data(), kHashSize));
  }
  // 'B' is multibase's upper-case base32; some tools print CIDs that way.
  if (!text.empty() && (text[0] == 'b' || text[0] == 'B')) return parse_cid(text);
  if (text.empty()) return invalid(text, "expected 64 hex digits or a CIDv1, got nothing");
  if (text.size() == 46 && text.starts_with("Qm")) {
    return invalid(text, "a CIDv0 is always sha2-256, not blake3");
  }
  return invalid(text, fmt::format("expected 64 hex digits or a CIDv1, got {} characters",
                                   text.size()));
}

Result<Hash> Hash::from_bytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != kHashSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("a hash is {} bytes, got {}", kHashSize, bytes.size()));
  }
  return Hash(bytes.first<kHashSize>());
}

std::string Hash::hex() const { return hex_encode(bytes_); }

std::array<uint8_t, 2 + kHashSize> Hash::multihash() const {
  std::array<uint8_t, 2 + kHashSize> out;
  std::memcpy(out.data(), kCidPrefix + 2, 2);  // the prefix's multihash part
  std::memcpy(out.data() + 2, bytes_.data(), kHashSize);
  return out;
}

std::string Hash::cid() const {
  uint8_t raw[sizeof kCidPrefix + kHashSize];
  std::memcpy(raw, kCidPrefix, sizeof kCidPrefix);
  std::memcpy(raw + sizeof kCidPrefix, bytes_.data(), kHashSize);
  std::string out = "b";  // multibase prefix: base32, lower case
  out += base32_encode(raw);
  return out;
}

}  // namespace bzzz
