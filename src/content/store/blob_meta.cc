#include "content/store/blob_meta.h"

#include <fmt/format.h>

namespace bzzz::store {

namespace {
constexpr uint8_t kVersion = 1;
}

std::array<uint8_t, kBlobMetaEncodedSize> encode_blob_meta(const BlobMeta& m) {
  std::array<uint8_t, kBlobMetaEncodedSize> out{};
  uint8_t* p = out.data();
  p[0] = kVersion;
  p[1] = static_cast<uint8_t>(m.codec);
  p[2] = static_cast<uint8_t>(m.location);
  p[3] = m.corrupt ? 1 : 0;  // flags
  put_u32(p + 4, m.pins);
  put_u64(p + 8, m.size);
  put_u64(p + 16, m.stored_size);
  put_u32(p + 24, m.pack_id);
  put_u32(p + 28, 0);
  put_u64(p + 32, m.offset);
  put_u64(p + 40, static_cast<uint64_t>(m.created_ns));
  put_u64(p + 48, static_cast<uint64_t>(m.accessed_ns));
  return out;
}

Result<BlobMeta> decode_blob_meta(std::span<const uint8_t> bytes) {
  if (bytes.size() != kBlobMetaEncodedSize) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("index entry has {} bytes, expected {}", bytes.size(),
                                  kBlobMetaEncodedSize));
  }
  const uint8_t* p = bytes.data();
  if (p[0] != kVersion) {
    return make_error(ErrorCode::kCorrupt, fmt::format("index entry version {} unknown", p[0]));
  }
  if (p[1] > static_cast<uint8_t>(Codec::kGzip)) {
    return make_error(ErrorCode::kCorrupt, fmt::format("index entry codec {} unknown", p[1]));
  }
  if (p[2] > static_cast<uint8_t>(Location::kFile)) {
    return make_error(ErrorCode::kCorrupt, fmt::format("index entry location {} unknown", p[2]));
  }
  BlobMeta m;
  m.codec = static_cast<Codec>(p[1]);
  m.location = static_cast<Location>(p[2]);
  m.pins = get_u32(p + 4);
  m.size = get_u64(p + 8);
  m.stored_size = get_u64(p + 16);
  m.pack_id = get_u32(p + 24);
  m.offset = get_u64(p + 32);
  m.created_ns = static_cast<int64_t>(get_u64(p + 40));
  m.accessed_ns = static_cast<int64_t>(get_u64(p + 48));
  m.corrupt = (p[3] & 1) != 0;
  return m;
}

}  // namespace bzzz::store
