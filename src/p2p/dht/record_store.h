// p2p/dht: the records and provider entries this node holds, in an LMDB environment in
// the directory given (the node passes <data dir>/dht), or in memory when it is "".
//
// Soft state: a record from another peer lives record_ttl after it arrived, a provider
// entry provider_ttl; both are republished by their owners, so losing the last writes
// at a crash costs little. LMDB therefore runs without fsync (MDB_NOSYNC): a write is a
// copy into the page cache, short enough for an I/O thread. What this node put or
// provides itself to keep (own) never expires here: the DHT republishes it. Expired entries are
// ignored when read and removed by purge(). Thread-safe. Depends on base/fs and
// p2p/proto (the stored values are DhtStoredRecord / DhtStoredProvider protobufs).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status/result.h"
#include "p2p/dht/key_space.h"
#include "p2p/identity/peer_id.h"
#include "p2p/multiaddr/multiaddr.h"

namespace bzzz::p2p::dht {

using Clock = std::chrono::system_clock;

struct StoredRecord {
  Bytes value;
  Clock::time_point received{};
  bool own = false;
};

struct ProviderEntry {
  PeerId peer;
  std::vector<Multiaddr> addrs;
  Clock::time_point received{};
  bool own = false;
};

class RecordStore {
 public:
  class Backend;  // LMDB or memory (record_store.cc)

  // Opens (creating) the LMDB environment in `dir`, or an in-memory store for "".
  static Result<std::unique_ptr<RecordStore>> open(const std::string& dir, std::chrono::milliseconds record_ttl,
                                                    std::chrono::milliseconds provider_ttl);
  ~RecordStore();

  Status put_record(std::string_view key, const StoredRecord& record);
  // nullopt when absent or expired.
  std::optional<StoredRecord> get_record(std::string_view key, Clock::time_point now) const;
  // Replaces the entry of the same (key, peer).
  Status add_provider(std::span<const uint8_t> key, const ProviderEntry& entry);
  // Unexpired providers of `key`, at most `limit`.
  std::vector<ProviderEntry> providers(std::span<const uint8_t> key, Clock::time_point now,
                                       size_t limit = SIZE_MAX) const;

  std::vector<std::pair<std::string, StoredRecord>> own_records() const;
  std::vector<Bytes> own_provider_keys() const;

  struct Purged {
    size_t records = 0;
    size_t providers = 0;
  };
  Result<Purged> purge(Clock::time_point now);

  size_t record_count() const;
  size_t provider_count() const;
  const std::string& dir() const { return dir_; }

 private:
  RecordStore(std::unique_ptr<Backend> backend, std::string dir, std::chrono::milliseconds record_ttl,
              std::chrono::milliseconds provider_ttl);
  bool expired(Clock::time_point received, bool own, std::chrono::milliseconds ttl, Clock::time_point now) const;

  std::unique_ptr<Backend> backend_;
  std::string dir_;
  std::chrono::milliseconds record_ttl_;
  std::chrono::milliseconds provider_ttl_;
};

}  // namespace bzzz::p2p::dht
