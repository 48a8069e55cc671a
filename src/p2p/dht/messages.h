// p2p/dht: the kad-dht wire messages (libp2p/specs kad-dht/README.md) as plain structs,
// and their protobuf encoding. Pure functions over bytes; depends on p2p/proto,
// p2p/identity and p2p/multiaddr only.
//
// Decoding is strict about the message and lenient about its lists: bytes that are not
// a protobuf Message are an error, but a listed peer whose id is not a peer id is
// skipped, and so is an address of a protocol we do not know (js and go peers announce
// quic, webtransport, circuit addresses). The type is kept as sent: whether it is one
// we serve is the caller's question (is_known).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status/result.h"
#include "p2p/dht/key_space.h"
#include "p2p/identity/peer_id.h"
#include "p2p/multiaddr/multiaddr.h"

namespace bzzz::p2p::dht {

enum class MessageType : int32_t {
  kPutValue = 0,
  kGetValue = 1,
  kAddProvider = 2,
  kGetProviders = 3,
  kFindNode = 4,
  kPing = 5,  // deprecated: answered, never sent
};
bool is_known(MessageType type);
// "PUT_VALUE", ...; "UNKNOWN" otherwise (a metric label: never the raw number).
std::string_view type_name(MessageType type);

struct PeerInfo {
  PeerId id;
  std::vector<Multiaddr> addrs;
  bool connected = false;  // ConnectionType CONNECTED (else NOT_CONNECTED)
};

struct Record {
  Bytes key;
  Bytes value;
  std::string time_received;  // RFC 3339, set by the receiver
};

struct Message {
  MessageType type = MessageType::kPing;
  Bytes key;
  std::optional<Record> record;
  std::vector<PeerInfo> closer;
  std::vector<PeerInfo> providers;
  // Entries of closer/providers the decoder skipped (bad ids); for diagnostics.
  size_t skipped_peers = 0;
};

Bytes encode(const Message& message);
Result<Message> decode(std::span<const uint8_t> bytes);

// "2026-11-27T13:00:00.123Z"
std::string rfc3339(std::chrono::system_clock::time_point t);

inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string to_string(std::span<const uint8_t> b) { return std::string(b.begin(), b.end()); }

}  // namespace bzzz::p2p::dht
