// content/store: the blob index, an LMDB environment under <data>/index/.
//
// Maps hash -> BlobMeta, and keeps the store's running counters and the replay
// checkpoints (how far each pack and the pins journal are reflected in the index).
// The environment is opened without per-commit fsync: packs and the pins journal are
// the durable log, and Store replays them past these checkpoints on open, so an index
// commit need not be durable on its own. sync() makes it so where ordering matters
// (before files are unlinked). Only Store's single writer uses Batch; reads may come
// from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/crypto/hash.h"
#include "base/status/result.h"
#include "content/store/blob_meta.h"

struct MDB_env;
struct MDB_txn;

namespace bzzz::store {

struct StoreCounters {
  uint64_t blobs = 0;
  uint64_t logical_bytes = 0;
  uint64_t stored_bytes = 0;
  uint64_t by_codec[3] = {0, 0, 0};  // indexed by Codec
  uint64_t packed = 0;               // blobs with Location::kPack
  uint64_t files = 0;                // blobs with Location::kFile

  void add(const BlobMeta& m, int sign);
  bool operator==(const StoreCounters&) const = default;
};

class Index {
 public:
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // Creates the environment if needed. The error says when the files are unreadable or
  // not an LMDB index, so the caller can offer a rebuild.
  static Result<std::unique_ptr<Index>> open(const std::string& dir);

  Result<std::optional<BlobMeta>> get(const Hash& hash) const;
  // Visits entries in hash order; `fn` returns false to stop early.
  Status scan(const std::function<bool(const Hash&, const BlobMeta&)>& fn) const;
  Result<StoreCounters> counters() const;
  // pack id -> offset up to which the pack's records are reflected in the index.
  Result<std::map<uint32_t, uint64_t>> pack_checkpoints() const;
  Result<uint64_t> pins_applied() const;

  // One write transaction. Counters follow every put/erase automatically.
  class Batch {
   public:
    ~Batch();
    Batch(Batch&& other) noexcept;
    Batch& operator=(Batch&&) = delete;

    Result<std::optional<BlobMeta>> get(const Hash& hash);
    Status put(const Hash& hash, const BlobMeta& meta);
    Status erase(const Hash& hash);
    Status set_pack_checkpoint(uint32_t pack_id, uint64_t end);
    Status erase_pack_checkpoint(uint32_t pack_id);
    Status set_pins_applied(uint64_t offset);
    Status commit();
    void abort();

   private:
    friend class Index;
    Batch(Index* index, MDB_txn* txn, StoreCounters counters)
        : index_(index), txn_(txn), counters_(counters) {}
    Index* index_;
    MDB_txn* txn_;
    StoreCounters counters_;
  };
  Result<Batch> begin();

  Status sync();
  const std::string& dir() const { return dir_; }

 private:
  Index() = default;
  Status check(int rc, const char* what) const;

  std::string dir_;
  MDB_env* env_ = nullptr;
  unsigned blobs_dbi_ = 0;
  unsigned meta_dbi_ = 0;
};

}  // namespace bzzz::store
