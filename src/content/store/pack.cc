#include "content/store/pack.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string.h>

#include <fmt/format.h>

#include "content/store/blob_meta.h"

namespace bzzz::store {

namespace {
constexpr uint32_t kRecordMagic = 0x4b505a42;  // "BZPK"
constexpr char kFileMagic[8] = {'B', 'Z', 'Z', 'Z', 'P', 'A', 'C', 'K'};
constexpr uint32_t kPackVersion = 1;
// A record larger than this is damage, not data: small blobs are at most a few MiB even
// with a raised threshold, and intents carry a file name.
constexpr uint32_t kMaxPayload = 64u << 20;

uint32_t record_crc(std::span<const uint8_t> header, std::span<const uint8_t> payload) {
  uint8_t copy[kRecordHeaderSize];
  std::memcpy(copy, header.data(), kRecordHeaderSize);
  std::memset(copy + 12, 0, 4);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, copy, kRecordHeaderSize);
  if (!payload.empty()) crc = crc32(crc, payload.data(), static_cast<uInt>(payload.size()));
  return static_cast<uint32_t>(crc);
}
}  // namespace

size_t encode_record(const Record& r, std::vector<uint8_t>& out) {
  size_t start = out.size();
  out.resize(start + kRecordHeaderSize + r.payload.size());
  uint8_t* p = out.data() + start;
  put_u32(p, kRecordMagic);
  p[4] = static_cast<uint8_t>(r.type);
  p[5] = static_cast<uint8_t>(r.codec);
  p[6] = p[7] = 0;
  put_u32(p + 8, static_cast<uint32_t>(r.payload.size()));
  put_u32(p + 12, 0);
  put_u64(p + 16, r.size);
  put_u64(p + 24, r.stored_size);
  put_u64(p + 32, static_cast<uint64_t>(r.created_ns));
  std::memcpy(p + 40, r.hash.data(), kHashSize);
  if (!r.payload.empty()) std::memcpy(p + kRecordHeaderSize, r.payload.data(), r.payload.size());
  uint32_t crc = record_crc({p, kRecordHeaderSize}, {p + kRecordHeaderSize, r.payload.size()});
  put_u32(p + 12, crc);
  return start + kRecordHeaderSize;
}

Result<RecordHeader> parse_record_header(std::span<const uint8_t> b) {
  if (b.size() < kRecordHeaderSize) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("record header truncated at {} of {} bytes", b.size(),
                                  kRecordHeaderSize));
  }
  const uint8_t* p = b.data();
  if (get_u32(p) != kRecordMagic) {
    return make_error(ErrorCode::kCorrupt, "record magic missing");
  }
  if (p[4] < 1 || p[4] > 3) {
    return make_error(ErrorCode::kCorrupt, fmt::format("record type {} unknown", p[4]));
  }
  if (p[5] > static_cast<uint8_t>(Codec::kGzip)) {
    return make_error(ErrorCode::kCorrupt, fmt::format("record codec {} unknown", p[5]));
  }
  RecordHeader h;
  h.type = static_cast<RecordType>(p[4]);
  h.codec = static_cast<Codec>(p[5]);
  h.payload_len = get_u32(p + 8);
  if (h.payload_len > kMaxPayload) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("record payload length {} exceeds {}", h.payload_len, kMaxPayload));
  }
  h.crc = get_u32(p + 12);
  h.size = get_u64(p + 16);
  h.stored_size = get_u64(p + 24);
  h.created_ns = static_cast<int64_t>(get_u64(p + 32));
  h.hash = Hash(std::span<const uint8_t, kHashSize>(p + 40, kHashSize));
  return h;
}

bool record_crc_ok(std::span<const uint8_t> header, std::span<const uint8_t> payload) {
  return header.size() >= kRecordHeaderSize &&
         record_crc(header.first(kRecordHeaderSize), payload) == get_u32(header.data() + 12);
}

std::vector<uint8_t> encode_pack_file_header(uint32_t pack_id) {
  std::vector<uint8_t> out(kPackFileHeaderSize);
  std::memcpy(out.data(), kFileMagic, 8);
  put_u32(out.data() + 8, kPackVersion);
  put_u32(out.data() + 12, pack_id);
  return out;
}

Status check_pack_file_header(std::span<const uint8_t> b, uint32_t pack_id) {
  if (b.size() < kPackFileHeaderSize || std::memcmp(b.data(), kFileMagic, 8) != 0) {
    return make_error(ErrorCode::kCorrupt, "not a bzzz pack file (magic missing)");
  }
  if (get_u32(b.data() + 8) != kPackVersion) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("pack version {} unknown", get_u32(b.data() + 8)));
  }
  if (get_u32(b.data() + 12) != pack_id) {
    return make_error(ErrorCode::kCorrupt, fmt::format("pack header says id {}, file name says {}",
                                                       get_u32(b.data() + 12), pack_id));
  }
  return ok();
}

std::string pack_file_name(uint32_t pack_id) { return fmt::format("pack-{:08d}.pack", pack_id); }

uint32_t parse_pack_file_name(const std::string& name) {
  if (name.size() != 18 || name.rfind("pack-", 0) != 0 || name.substr(13) != ".pack") return 0;
  uint32_t id = 0;
  for (size_t i = 5; i < 13; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    id = id * 10 + static_cast<uint32_t>(name[i] - '0');
  }
  return id;
}

namespace {

// Reads [offset, offset + len) of the file into `buf`.
Status read_range(const fs::File& file, uint64_t offset, size_t len, std::vector<uint8_t>& buf) {
  buf.resize(len);
  return file.pread_exact(buf, offset);
}

// Whether an intact record starts at `at`; on success fills header and payload.
Result<bool> intact_at(const fs::File& file, uint64_t at, uint64_t file_size,
                       std::vector<uint8_t>& rec, RecordHeader* header, std::string* why) {
  if (file_size - at < kRecordHeaderSize) {
    *why = fmt::format("{} stray bytes at the end", file_size - at);
    return false;
  }
  BZZZ_TRY(read_range(file, at, kRecordHeaderSize, rec));
  if (std::all_of(rec.begin(), rec.end(), [](uint8_t b) { return b == 0; })) {
    *why = "zeros";
    return false;
  }
  auto h = parse_record_header(rec);
  if (!h) {
    *why = h.error().message();
    return false;
  }
  if (at + kRecordHeaderSize + h->payload_len > file_size) {
    *why = "record is cut short";
    return false;
  }
  BZZZ_TRY(read_range(file, at, kRecordHeaderSize + h->payload_len, rec));
  if (!record_crc_ok(rec, std::span<const uint8_t>(rec).subspan(kRecordHeaderSize))) {
    *why = fmt::format("record at offset {} fails its checksum", at);
    return false;
  }
  *header = *h;
  return true;
}

// The offset of the next intact record after `from`, if any.
Result<std::optional<uint64_t>> find_next_record(const fs::File& file, uint64_t from,
                                                 uint64_t file_size) {
  constexpr size_t kWindow = 4u << 20;
  const uint8_t magic[4] = {0x42, 0x5a, 0x50, 0x4b};  // kRecordMagic, little-endian
  std::vector<uint8_t> window;
  std::vector<uint8_t> rec;
  for (uint64_t base = from; base + kRecordHeaderSize <= file_size;) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(kWindow, file_size - base));
    BZZZ_TRY(read_range(file, base, len, window));
    for (size_t i = 0; i + sizeof magic <= len; ++i) {
      auto* hit = static_cast<const uint8_t*>(
          memmem(window.data() + i, len - i, magic, sizeof magic));
      if (hit == nullptr) break;
      i = static_cast<size_t>(hit - window.data());
      RecordHeader header;
      std::string why;
      BZZZ_ASSIGN_OR_RETURN(bool intact, intact_at(file, base + i, file_size, rec, &header, &why));
      if (intact) return std::optional<uint64_t>(base + i);
    }
    if (len < kWindow) break;
    base += len - (sizeof magic - 1);  // a magic may straddle two windows
  }
  return std::optional<uint64_t>();
}

}  // namespace

Result<ScanEnd> scan_pack(const fs::File& file, uint64_t from,
                          const std::function<Status(const ScannedRecord&)>& fn) {
  BZZZ_ASSIGN_OR_RETURN(uint64_t file_size, file.size());
  ScanEnd end;
  end.valid_end = from;
  uint64_t pos = from;
  std::vector<uint8_t> rec;
  while (pos < file_size) {
    RecordHeader header;
    std::string why;
    BZZZ_ASSIGN_OR_RETURN(bool intact, intact_at(file, pos, file_size, rec, &header, &why));
    if (!intact) {
      BZZZ_ASSIGN_OR_RETURN(auto next, find_next_record(file, pos + 1, file_size));
      if (next) {
        end.damaged.push_back({pos, *next, why == "zeros" ? "zeroed bytes" : why});
        pos = *next;
        continue;
      }
      if (why != "zeros") {
        end.torn = true;
        end.reason = why;
      }
      break;
    }
    auto payload = std::span<const uint8_t>(rec).subspan(kRecordHeaderSize);
    BZZZ_TRY(fn(ScannedRecord{header, pos, payload}));
    pos += kRecordHeaderSize + header.payload_len;
    end.valid_end = pos;
  }
  return end;
}

}  // namespace bzzz::store
