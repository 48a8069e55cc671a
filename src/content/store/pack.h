// content/store: pack files, the append-only log of the store.
//
// Small blobs live inside packs as records; so do the "file intent" records that
// announce a large blob's file before it is renamed into place, and tombstones written
// by garbage collection. A pack is therefore the store's write-ahead log: the index can
// always be brought up to date (or rebuilt) by replaying packs in order. Every record
// carries a CRC over header and payload, so a torn tail after a crash is recognised and
// cut off rather than believed.
//
// Layout: a 16-byte file header ("BZZZPACK", u32 version, u32 pack id), then records:
//   0 u32 magic | 4 u8 type | 5 u8 codec | 6 u16 zero | 8 u32 payload length |
//  12 u32 crc32 of the record with this field zeroed | 16 u64 logical size |
//  24 u64 stored size | 32 i64 created (ns) | 40 hash[32] | 72 payload
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/crypto/hash.h"
#include "base/fs/file.h"
#include "base/status/result.h"
#include "content/store/codec.h"

namespace bzzz::store {

inline constexpr size_t kPackFileHeaderSize = 16;
inline constexpr size_t kRecordHeaderSize = 72;

enum class RecordType : uint8_t {
  kBlob = 1,       // payload: the blob's stored bytes (codec applied)
  kFileIntent = 2, // payload: the temp file name that will become blobs/data/.../<hash>
  kTombstone = 3,  // no payload: the blob was removed by gc
};

struct Record {
  RecordType type = RecordType::kBlob;
  Codec codec = Codec::kRaw;
  uint64_t size = 0;
  uint64_t stored_size = 0;
  int64_t created_ns = 0;
  Hash hash;
  std::span<const uint8_t> payload;
};

// Appends one encoded record to `out`; returns the offset of its payload within `out`.
size_t encode_record(const Record& record, std::vector<uint8_t>& out);

struct RecordHeader {
  RecordType type;
  Codec codec;
  uint32_t payload_len;
  uint32_t crc;
  uint64_t size;
  uint64_t stored_size;
  int64_t created_ns;
  Hash hash;
};

// Parses a record header (pure). kCorrupt names the field that is wrong.
Result<RecordHeader> parse_record_header(std::span<const uint8_t> bytes);
// Checks the CRC of a header plus its payload.
bool record_crc_ok(std::span<const uint8_t> header, std::span<const uint8_t> payload);

std::vector<uint8_t> encode_pack_file_header(uint32_t pack_id);
Status check_pack_file_header(std::span<const uint8_t> bytes, uint32_t pack_id);

std::string pack_file_name(uint32_t pack_id);
// Returns the id of a name made by pack_file_name, or 0 if it is not one.
uint32_t parse_pack_file_name(const std::string& name);

// One record seen by scan_pack: where its payload starts, and the payload itself.
struct ScannedRecord {
  RecordHeader header;
  uint64_t offset;  // of the record header
  std::span<const uint8_t> payload;
};

struct Damage {
  uint64_t begin = 0;  // first byte that does not belong to an intact record
  uint64_t end = 0;    // where the next intact record starts
  std::string reason;
};

struct ScanEnd {
  uint64_t valid_end = 0;       // offset just past the last intact record
  bool torn = false;            // bytes after valid_end are damage, not preallocated zeros
  std::string reason;           // why, when torn
  std::vector<Damage> damaged;  // damage followed by intact records (skipped, not the end)
};

// Reads the records of an open pack from `from` (>= kPackFileHeaderSize) sequentially,
// calling `fn` for each intact one. Where a record is damaged, the scan looks for the
// next intact record: if there is one, the damage is reported and skipped (a flipped bit
// must not cost the records after it); if there is none, the log ends there: cleanly
// when only zeros follow (the active pack is zero-filled ahead, see Store), torn
// otherwise. `fn` returning an error stops the scan with that error.
Result<ScanEnd> scan_pack(const fs::File& file, uint64_t from,
                          const std::function<Status(const ScannedRecord&)>& fn);

}  // namespace bzzz::store
