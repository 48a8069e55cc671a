// content/store: pieces shared by the store's implementation files. Not part of the
// module's interface; nothing outside src/content/store includes this.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/crypto/blake3.h"
#include "base/fs/file.h"
#include "content/store/codec.h"
#include "content/store/store.h"

namespace bzzz::store {

// One change to the store, applied by whichever writer commits the group holding it.
struct Store::Mutation {
  enum class Kind {
    kAddPacked,  // a small blob: payload holds its stored bytes
    kAddFile,    // a large blob: temp_path holds its fsynced stored bytes
    kPin,        // pin_delta +1 / -1
    kRemove,     // gc: only if still unpinned, unused since cutoff_ns and not leased
    kReplace,    // optimize/compaction: new stored form, only if the entry still equals expected
    kKeepTombstone,  // compaction: re-log a tombstone if the blob is still absent
    kMarkCorrupt,    // reads and verify: flag the entry, if it still equals expected
    kKeepFile,       // compaction: re-log a large blob's intent, if it is still stored
  };
  Kind kind = Kind::kAddPacked;
  Hash hash;
  BlobMeta meta;                 // adds and replace: codec, size, stored_size, location
  std::vector<uint8_t> payload;  // packed stored bytes
  std::string temp_path;         // file adds and replace
  int32_t pin_delta = 0;
  int64_t cutoff_ns = 0;
  BlobMeta expected;

  // Results, valid once submit() returned ok.
  Status status = ok();
  BlobMeta result;
  bool deduplicated = false;
  bool applied = false;
};

struct Store::Writer {
  std::vector<Mutation*> mutations;
  bool done = false;
  Status status = ok();
  std::condition_variable cv;
};

// Marks a blob as being read, so gc leaves it alone meanwhile.
class Store::Lease {
 public:
  Lease(Store& store, const Hash& hash) : store_(store), hash_(hash) {
    std::lock_guard lock(store_.lease_mu_);
    ++store_.leases_[hash_];
  }
  ~Lease() {
    std::lock_guard lock(store_.lease_mu_);
    auto it = store_.leases_.find(hash_);
    if (--it->second == 0) store_.leases_.erase(it);
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

 private:
  Store& store_;
  Hash hash_;
};

namespace internal {

inline constexpr size_t kProbeBytes = 1u << 20;       // head read before choosing a path
inline constexpr uint64_t kMaxSmallThreshold = 16u << 20;  // packs hold small blobs only
inline constexpr size_t kMaxPackReaders = 256;        // cached pack descriptors
inline constexpr size_t kStreamBuffer = 1u << 20;     // read/write piece for large blobs
inline constexpr size_t kMaxPieceTrees = 4096;        // remembered piece trees (32 bytes/MiB each)
inline constexpr uint64_t kWritebackChunk = 8u << 20;  // large blobs start disk writes per chunk
inline constexpr size_t kMaxGroupMutations = 4096;    // one group commit at most
inline constexpr uint64_t kPackPrealloc = 4u << 20;   // zeros kept ahead of the log end
inline constexpr std::chrono::microseconds kGatherWait{200};  // see submit()
inline constexpr int64_t kAccessGranularityNs = 60'000'000'000;  // see note_access
inline constexpr const char* kPinsJournalName = "blobs/pins.journal";  // under the data dir
inline constexpr size_t kPinRecordSize = 44;          // magic, hash, delta, crc32

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline bool saves_enough(uint64_t stored, uint64_t size, double min_savings) {
  return static_cast<double>(stored) <= (1.0 - min_savings) * static_cast<double>(size);
}

struct PinRecord {
  Hash hash;
  int32_t delta;
};
std::array<uint8_t, kPinRecordSize> encode_pin_record(const PinRecord& record);
std::optional<PinRecord> decode_pin_record(std::span<const uint8_t> bytes);

// Renames an fsynced temp file to its place under blobs/data, creating the shard
// directories, and makes the new entry durable.
Status install_file(const std::string& temp, const std::string& final_path);

std::string shard_dir_of(const std::string& blob_path);

class VectorSink final : public ByteSink {
 public:
  Status write(std::span<const uint8_t> bytes) override {
    data.insert(data.end(), bytes.begin(), bytes.end());
    return ok();
  }
  std::vector<uint8_t> data;
};

// Streams a large blob into blobs/temp: hashes it, writes it raw, and, when a probe of
// its head says compression pays, also writes it compressed; finish() keeps whichever
// is smaller by at least min_savings, fsynced. The temp files are removed on
// destruction unless release() was called after they were handed to the store.
class LargeBlobWriter {
 public:
  explicit LargeBlobWriter(const StoreOptions& options) : options_(options) {}
  ~LargeBlobWriter();

  Status start(std::string raw_path, std::string z_path, std::span<const uint8_t> head);
  Status write(std::span<const uint8_t> data);

  struct Done {
    Hash hash;
    BlobMeta meta;     // codec, size, stored_size, location kFile
    std::string path;  // the fsynced temp file holding the stored bytes
  };
  Result<Done> finish();
  void release() { released_ = true; }

 private:
  const StoreOptions& options_;
  Blake3Hasher hasher_;
  std::string raw_path_;
  std::string z_path_;
  fs::File raw_;
  fs::File z_;
  std::unique_ptr<Encoder> encoder_;
  uint64_t size_ = 0;
  uint64_t z_size_ = 0;
  uint64_t raw_flushed_ = 0;  // start_writeback issued up to here
  uint64_t z_flushed_ = 0;
  bool released_ = false;
};

// Re-encodes a blob's verified bytes with the store's current codec settings; returns
// the new stored bytes, or nullopt when it is best left as it is.
Result<std::optional<std::pair<Codec, std::vector<uint8_t>>>> reencode_small(
    const StoreOptions& options, std::span<const uint8_t> original);

}  // namespace internal
}  // namespace bzzz::store
