// content/store: what the index knows about one blob, and its fixed binary encoding
// (the value stored under the 32-byte hash key). Pure data; no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "base/crypto/hash.h"
#include "base/status/result.h"
#include "content/store/codec.h"

namespace bzzz::store {

// Where a blob's stored bytes live.
enum class Location : uint8_t {
  kPack = 0,  // a record inside blobs/packs/pack-NNNNNNNN.pack (small blobs)
  kFile = 1,  // its own file blobs/data/xx/yy/<hash> (large blobs)
};

struct BlobMeta {
  Codec codec = Codec::kRaw;
  Location location = Location::kPack;
  uint32_t pins = 0;
  uint64_t size = 0;         // logical (original) bytes
  uint64_t stored_size = 0;  // bytes on disk after compression
  uint32_t pack_id = 0;      // kPack only
  uint64_t offset = 0;       // kPack only: offset of the payload inside the pack
  int64_t created_ns = 0;    // Unix time of the first put
  int64_t accessed_ns = 0;   // Unix time of the last put or read (coarse, see Store)
  bool corrupt = false;      // a read or verify found its bytes damaged; a put repairs it

  bool operator==(const BlobMeta&) const = default;
};

inline constexpr size_t kBlobMetaEncodedSize = 56;

std::array<uint8_t, kBlobMetaEncodedSize> encode_blob_meta(const BlobMeta& meta);
// Rejects a wrong length, an unknown version, codec or location as kCorrupt.
Result<BlobMeta> decode_blob_meta(std::span<const uint8_t> bytes);

// Little-endian helpers shared by the on-disk formats of this module.
inline void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | p[i];
  return v;
}
inline uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

}  // namespace bzzz::store
