// content/store: verified bytes of recently read small blobs, kept in memory so a hot
// blob is served without touching the disk (or, in the node, leaving the event loop).
// Bounded by bytes, least recently used out first. Content-addressed bytes never change,
// so entries need no revalidation; the store drops an entry when its blob is removed,
// replaced or found damaged. Thread-safe; never blocks on I/O.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/crypto/hash.h"
#include "content/store/blob_meta.h"

namespace bzzz::store {

struct CachedBlob {
  BlobMeta meta;
  std::shared_ptr<const std::string> bytes;  // the whole blob, verified when it was read
};

class ReadCache {
 public:
  ReadCache(uint64_t capacity_bytes, uint64_t max_entry_bytes)
      : capacity_(capacity_bytes), max_entry_(max_entry_bytes) {}

  std::optional<CachedBlob> get(const Hash& hash);
  void put(const Hash& hash, const BlobMeta& meta, std::span<const uint8_t> bytes);
  void erase(const Hash& hash);
  uint64_t bytes() const;
  bool wants(uint64_t size) const { return capacity_ > 0 && size <= max_entry_; }

 private:
  struct Entry {
    CachedBlob blob;
    std::list<Hash>::iterator lru;
  };
  mutable std::mutex mu_;
  uint64_t capacity_;
  uint64_t max_entry_;
  uint64_t used_ = 0;
  std::list<Hash> lru_;  // front: most recently used
  std::unordered_map<Hash, Entry, HashHasher> entries_;
};

}  // namespace bzzz::store
