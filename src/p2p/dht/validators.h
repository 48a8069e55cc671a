// p2p/dht: record validation and selection per key namespace (the "pk" of "/pk/...").
// A record is accepted (stored, or believed when a peer returns it) only when the
// validator of its namespace says it is valid; keys of a namespace without a validator
// are rejected, as go and js do. Of several valid values the namespace's selector picks
// the best. Built in:
//
//   /pk/<peer id multihash bytes>   a libp2p PublicKey protobuf whose peer id is the
//                                   key's (all valid values are equal: the first wins)
//   /bzzz/<peer id base58>/<name>   a BzzzRecord (p2p/proto/dht.proto) signed by the
//                                   peer's key; the highest seq wins (ties: the first)
//
// The signature of a BzzzRecord covers
//   "bzzz-record:" || uvarint(len key) || key || uvarint(len value) || value || u64be(seq)
// The lengths keep one signed (key, value) pair from reading as another (key + "a",
// value) pair of the same publisher. Pure functions plus a locked registry; depends on
// p2p/identity and p2p/proto only.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status/result.h"
#include "p2p/dht/key_space.h"
#include "p2p/identity/keys.h"
#include "p2p/identity/peer_id.h"

namespace bzzz::p2p::dht {

struct Validator {
  // Whether `value` may be stored under `key` (an error names what is wrong).
  std::function<Status(std::string_view key, std::span<const uint8_t> value)> validate;
  // The index of the best of `values` (at least one; all valid). Must be stable.
  std::function<size_t(std::string_view key, const std::vector<Bytes>& values)> select;
};

// "pk" for "/pk/...": the text between the first two slashes; nullopt when the key has
// no such segment followed by more ("/ns/rest").
std::optional<std::string> namespace_of(std::string_view key);

class Validators {
 public:
  Validators();  // with pk and bzzz registered
  void add(std::string ns, Validator validator);
  bool has(std::string_view ns) const;
  Status validate(std::string_view key, std::span<const uint8_t> value) const;
  Result<size_t> select(std::string_view key, const std::vector<Bytes>& values) const;

 private:
  Result<Validator> find(std::string_view key) const;
  mutable std::mutex mutex_;
  std::map<std::string, Validator, std::less<>> by_ns_;
};

Validator pk_validator();
Validator bzzz_validator();

// "/pk/" || the peer id's multihash bytes.
std::string pk_key(const PeerId& peer);

// --- /bzzz/ records ---------------------------------------------------------------------

struct BzzzRecord {
  Bytes value;
  uint64_t seq = 0;
  PublicKey public_key;
  Bytes signature;
};

// "/bzzz/<peer id>/<name>"
std::string bzzz_key(const PeerId& publisher, std::string_view name);
// The bytes the publisher signs.
Bytes bzzz_signing_payload(std::string_view key, std::span<const uint8_t> value, uint64_t seq);
// The record value to put under bzzz_key(peer of `key`, name): a signed BzzzRecord.
Bytes make_bzzz_record(const PrivateKey& key, std::string_view name, std::span<const uint8_t> value, uint64_t seq);
// Parses a BzzzRecord (no signature check: that is validate's).
Result<BzzzRecord> decode_bzzz_record(std::span<const uint8_t> bytes);
Bytes encode_bzzz_record(const BzzzRecord& record);

}  // namespace bzzz::p2p::dht
