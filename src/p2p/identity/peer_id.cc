#include "p2p/identity/peer_id.h"

#include <sodium.h>

#include <fmt/format.h>

#include "base/encoding/base32.h"
#include "base/encoding/base58.h"
#include "base/encoding/varint.h"

namespace bzzz::p2p {

namespace {
constexpr uint64_t kIdentityMultihash = 0x00;
constexpr uint64_t kSha256Multihash = 0x12;
constexpr uint64_t kLibp2pKeyCodec = 0x72;
constexpr size_t kMaxInlineKeyBytes = 42;
}  // namespace

PeerId PeerId::from_public_key(const PublicKey& key) {
  auto encoded = key.encode();
  PeerId id;
  if (encoded.size() <= kMaxInlineKeyBytes) {
    varint_append(id.bytes_, kIdentityMultihash);
    varint_append(id.bytes_, encoded.size());
    id.bytes_.insert(id.bytes_.end(), encoded.begin(), encoded.end());
  } else {
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, encoded.data(), encoded.size());
    varint_append(id.bytes_, kSha256Multihash);
    varint_append(id.bytes_, sizeof digest);
    id.bytes_.insert(id.bytes_.end(), digest, digest + sizeof digest);
  }
  return id;
}

Result<PeerId> PeerId::from_bytes(std::span<const uint8_t> bytes) {
  std::span<const uint8_t> in = bytes;
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("invalid peer id: {}", why));
  };
  auto code = varint_read(in);
  if (!code) return bad(code.error().message());
  auto len = varint_read(in);
  if (!len) return bad(len.error().message());
  if (*len != in.size()) return bad(fmt::format("multihash says {} digest bytes, {} follow", *len, in.size()));
  if (*code == kSha256Multihash) {
    if (*len != 32) return bad("a sha2-256 multihash has 32 bytes");
  } else if (*code == kIdentityMultihash) {
    if (*len > kMaxInlineKeyBytes) return bad("an identity multihash holds at most 42 bytes");
    auto key = PublicKey::decode(in);
    if (!key) return bad(key.error().message());
  } else {
    return bad(fmt::format("multihash code {:#x} is neither identity nor sha2-256", *code));
  }
  PeerId id;
  id.bytes_.assign(bytes.begin(), bytes.end());
  return id;
}

Result<PeerId> PeerId::parse(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("invalid peer id {}: {}", quoted(text), why));
  };
  if (text.empty()) return bad("empty");
  if (text.starts_with("Qm") || text.starts_with("1")) {
    auto bytes = base58_decode(text);
    if (!bytes) return bad(bytes.error().message());
    auto id = from_bytes(*bytes);
    if (!id) return bad(id.error().message());
    return id;
  }
  if (text.front() == 'b' || text.front() == 'B') {
    auto bytes = base32_decode(text.substr(1));
    if (!bytes) return bad(bytes.error().message());
    std::span<const uint8_t> in(*bytes);
    auto version = varint_read(in);
    auto codec = version ? varint_read(in) : version;
    if (!version || *version != 1) return bad("not a CIDv1");
    if (!codec || *codec != kLibp2pKeyCodec) return bad("a peer id CID has the libp2p-key codec (0x72)");
    auto id = from_bytes(in);
    if (!id) return bad(id.error().message());
    return id;
  }
  return bad("expected base58btc (12D3KooW..., Qm...) or a CIDv1 (bafz...)");
}

std::string PeerId::to_string() const { return base58_encode(bytes_); }

std::string PeerId::to_cid() const {
  std::vector<uint8_t> cid;
  varint_append(cid, 1);
  varint_append(cid, kLibp2pKeyCodec);
  cid.insert(cid.end(), bytes_.begin(), bytes_.end());
  std::string out = "b";  // (not "b" + ...: g++ 12 warns falsely on that, -Wrestrict)
  out += base32_encode(cid);
  return out;
}

std::optional<PublicKey> PeerId::public_key() const {
  if (bytes_.size() < 2 || bytes_[0] != kIdentityMultihash) return std::nullopt;
  std::span<const uint8_t> in(bytes_);
  in = in.subspan(1);
  auto len = varint_read(in);
  if (!len) return std::nullopt;
  auto key = PublicKey::decode(in);
  if (!key) return std::nullopt;
  return *key;
}

std::strong_ordering PeerId::operator<=>(const PeerId& other) const {
  return std::lexicographical_compare_three_way(bytes_.begin(), bytes_.end(), other.bytes_.begin(),
                                                other.bytes_.end());
}

bool PeerId::operator==(const PeerId& other) const { return bytes_ == other.bytes_; }

}  // namespace bzzz::p2p
