// p2p/mdns: a small RFC 1035 DNS message codec, enough for multicast DNS (RFC 6762):
// header, questions and the four record sections; PTR, TXT, A, AAAA and SRV data;
// name compression (read: pointers that go strictly backwards, so no loop is possible;
// written: suffixes already in the message). Records of other types are skipped when
// parsing. Pure functions over bytes; every malformed input is an Error naming what and
// where, never a crash. Depends on base/status only (no sockets, no libp2p).
//
// Names are dotted text without the trailing dot ("_p2p._udp.local"). A '.' or '\'
// inside a label is written escaped ("a\.b" is one label), so a name read from the wire
// turns back into the same labels when encoded. Names compare case-insensitively
// (same_name), as DNS does.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status/result.h"

namespace bzzz::p2p::mdns::dns {

enum class Type : uint16_t {
  kA = 1,
  kPtr = 12,
  kTxt = 16,
  kAaaa = 28,
  kSrv = 33,
  kAny = 255,
};
inline constexpr uint16_t kClassIn = 1;

// Header flags.
inline constexpr uint16_t kFlagResponse = 0x8000;       // QR
inline constexpr uint16_t kFlagAuthoritative = 0x0400;  // AA
inline constexpr uint16_t kFlagTruncated = 0x0200;      // TC

// The largest message parse() accepts and encode() produces (RFC 6762 §17).
inline constexpr size_t kMaxMessageSize = 9000;

struct Question {
  std::string name;
  Type type = Type::kPtr;
  uint16_t klass = kClassIn;
  bool unicast_response = false;  // the QU bit (top bit of the class in mDNS)
  bool operator==(const Question&) const = default;
};

struct Srv {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;
  bool operator==(const Srv&) const = default;
};

struct Record {
  std::string name;
  Type type = Type::kPtr;
  uint16_t klass = kClassIn;
  bool cache_flush = false;  // the top bit of the class in mDNS responses
  uint32_t ttl = 120;
  // The data, by type; the other fields stay empty.
  std::string ptr;                // PTR: the target name
  std::vector<std::string> txt;   // TXT: the character-strings (each at most 255 bytes)
  std::vector<uint8_t> address;   // A: 4 bytes, AAAA: 16 bytes (network order)
  Srv srv;                        // SRV
  std::vector<uint8_t> rdata;     // any other type (encode only: parse skips them)
  bool operator==(const Record&) const = default;
};

struct Message {
  uint16_t id = 0;
  uint16_t flags = 0;
  std::vector<Question> questions;
  std::vector<Record> answers;
  std::vector<Record> authorities;
  std::vector<Record> additionals;

  bool is_response() const { return (flags & kFlagResponse) != 0; }
  bool operator==(const Message&) const = default;
};

// Errors (kProtocol) name the section, the index and the offset of what was wrong.
Result<Message> parse(std::span<const uint8_t> bytes);
// Errors (kInvalidArgument) name the bad name, label or string.
Result<std::vector<uint8_t>> encode(const Message& message);

// Case-insensitive (ASCII) comparison of dotted names; a trailing dot is ignored.
bool same_name(std::string_view a, std::string_view b);

std::string type_name(Type type);

}  // namespace bzzz::p2p::mdns::dns
