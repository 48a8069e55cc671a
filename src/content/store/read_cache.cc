#include "content/store/read_cache.h"

namespace bzzz::store {

std::optional<CachedBlob> ReadCache::get(const Hash& hash) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(hash);
  if (it == entries_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.blob;
}

void ReadCache::put(const Hash& hash, const BlobMeta& meta, std::span<const uint8_t> bytes) {
  if (!wants(bytes.size())) return;
  auto copy = std::make_shared<const std::string>(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::lock_guard lock(mu_);
  if (entries_.count(hash) != 0) return;
  lru_.push_front(hash);
  entries_.emplace(hash, Entry{CachedBlob{meta, std::move(copy)}, lru_.begin()});
  used_ += bytes.size();
  while (used_ > capacity_ && !lru_.empty()) {
    auto victim = entries_.find(lru_.back());
    used_ -= victim->second.blob.bytes->size();
    entries_.erase(victim);
    lru_.pop_back();
  }
}

void ReadCache::erase(const Hash& hash) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(hash);
  if (it == entries_.end()) return;
  used_ -= it->second.blob.bytes->size();
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

uint64_t ReadCache::bytes() const {
  std::lock_guard lock(mu_);
  return used_;
}

}  // namespace bzzz::store
