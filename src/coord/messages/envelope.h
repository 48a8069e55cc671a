// coord/messages: the JSON envelope every message on the original BZZZ's topics
// carries, as pure functions over bytes: parse (with a reason a metric can count),
// encode (in the shape Go's encoding/json writes), and the meta-discussion hop rule.
//
// Owns the envelope's wire form and nothing else: no topics joined, no I/O, no clock
// (callers pass the time). Depends on base/status and p2p/identity (peer ids) only.
//
// The wire form, from the original's pubsub.Message struct marshalled by encoding/json:
//   {"type":"task_claim","from":"12D3KooW...","timestamp":"2025-07-14T20:31:07.123456789+10:00",
//    "data":{...},"hop_count":2,"version":1}
// in that field order; `from` is the publishing host's peer id (base58); `timestamp`
// is Go's time.Time form (see rfc3339.h); `data` is a free-form object (Go writes a nil
// map as null); hop_count is omitted when 0. `version` is ours: Go's decoder ignores
// it, and its absence means 1.
//
// Decisions:
// - Unknown types are accepted (kept as text, MessageType::kUnknown). The original's
//   first commits used other names and its v2 added role/expertise/project types;
//   dropping them would split the conversation. Callers count them.
// - Newer versions are accepted if the v1 fields parse. The rule we hold ourselves to:
//   a version only adds fields; a change that v1 readers would misread takes a new
//   topic (the "/v1" suffix is the breaking version). version < 1 is an error.
// - Parsing is as lenient as Go's json.Unmarshal where Go agents rely on it (data null
//   or absent = {}, hop_count null = 0) and strict where a well-formed Go publisher
//   never differs (exact lower-case keys, an integer hop_count, a peer-id `from`, an
//   RFC 3339 timestamp). Invalid UTF-8 fails to parse (Go would substitute U+FFFD).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "base/status/result.h"
#include "coord/messages/rfc3339.h"
#include "coord/messages/types.h"
#include "p2p/identity/peer_id.h"

namespace bzzz::coord {

inline constexpr int kEnvelopeVersion = 1;       // what we write and fully understand
inline constexpr size_t kMaxEnvelopeBytes = 1 << 20;  // gossipsub's message limit too
inline constexpr int kMaxJsonDepth = 64;         // real messages nest 4 or 5 deep
// A discussion message is re-published at most this many times (the original's
// max_hops). hop_count 0..kMaxHops is valid on meta-discussion topics.
inline constexpr int kMaxHops = 3;

struct Timestamp {
  TimePoint time{};  // UTC
  std::string text;  // as on the wire; encode writes this (a relay keeps it byte-exact)

  // Now-style: `time` formatted as Go writes time.Now().UTC().
  static Timestamp at(TimePoint time);
  static Result<Timestamp> parse(std::string_view text);
};

struct Envelope {
  std::string type;  // a type_name(), or any other type a peer sent
  std::string from;  // the publisher's peer id, as sent (parse checked it is one)
  Timestamp timestamp;
  nlohmann::json data = nlohmann::json::object();  // always an object
  int hop_count = 0;
  int version = kEnvelopeVersion;

  MessageType kind() const { return message_type(type); }
};

// An envelope we publish: version 1, hop_count 0, `data` an object (null becomes {}).
Envelope make_envelope(MessageType type, const p2p::PeerId& from, nlohmann::json data,
                       TimePoint now);

// Why bytes are not an envelope; each has a short label for metrics.
enum class EnvelopeFault {
  kTooLarge,      // too_large: over kMaxEnvelopeBytes
  kNotJson,       // not_json: not JSON, invalid UTF-8, or nested over kMaxJsonDepth
  kNotObject,     // not_object: JSON, but not an object
  kBadType,       // bad_type: `type` missing, not a string, empty or over 128 bytes
  kBadFrom,       // bad_from: `from` missing, not a string, not a peer id
  kBadTimestamp,  // bad_timestamp: `timestamp` missing, not a string, not RFC 3339
  kBadData,       // bad_data: `data` present and neither an object nor null
  kBadHopCount,   // bad_hop_count: `hop_count` not an integer in 0..2^31-1
  kBadVersion,    // bad_version: `version` not an integer >= 1
};
std::string_view fault_label(EnvelopeFault fault);

struct EnvelopeError {
  EnvelopeFault fault;
  std::string message;  // names the field and quotes what was there
};

// Parses an envelope; the error says which field was wrong and why.
tl::expected<Envelope, EnvelopeError> decode_envelope(std::span<const uint8_t> bytes);
// The same as a Result: kTooLarge for size, kInvalidArgument for the rest; the message
// starts with the fault's label ("bad_from: ...").
Result<Envelope> parse_envelope(std::span<const uint8_t> bytes);

// Compact JSON in Go's field order (type, from, timestamp, data, hop_count when not 0,
// version), escaped as Go escapes (<, >, & and U+2028/9 as \u escapes; invalid UTF-8
// in strings as U+FFFD). Object keys inside `data` come out sorted, which is what Go
// writes for its map-typed data; numbers come out as they were parsed. A timestamp
// with empty text is formatted from its time.
std::vector<uint8_t> encode_envelope(const Envelope& envelope);
std::string encode_envelope_text(const Envelope& envelope);

// The hop rule. Gossipsub already delivers every accepted message to every subscriber
// of its topic, so nothing is re-published to reach the mesh; hop_count counts
// re-publications by applications (a node bridging antennae/ and hmmm/meta-discussion,
// copying a discussion into a per-issue room, an agent forwarding a thread), each a
// new gossipsub message signed by the relayer. The original never re-published: its
// first commits had publishers pass a hop count, refused to publish above 3 and
// dropped received messages above 3; its later code never sets the field.
//
// Whether a discussion message may be re-published: a known discussion type with
// hop_count < kMaxHops (so relays carry 1..3).
bool should_relay(const Envelope& envelope);
// The copy `relayer` publishes: hop_count + 1 and from = relayer (gossipsub signs it
// as the relayer's, and validators insist from matches the signer); type, timestamp,
// data and version unchanged. Check should_relay first.
Envelope relayed(Envelope envelope, const p2p::PeerId& relayer);

}  // namespace bzzz::coord
