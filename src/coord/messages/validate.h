// coord/messages: the topic validator for the original BZZZ's topics as a pure
// function: (topic, message bytes, gossipsub publisher) -> accept / reject / ignore
// with a short label for metrics. No router types here (pubsub_validator.h adapts it),
// so it can be tested and fuzzed alone. Depends on envelope.h and types.h only.
//
// Verdicts, and why:
// - reject (the sending peer is penalised) when no well-formed publisher could have
//   sent it: too_large, not_json, not_object, bad_type, bad_from, bad_timestamp,
//   bad_data, bad_hop_count, bad_version (envelope.h), and from_mismatch: the
//   original's `from` is always its host's peer id and its messages are signed with
//   StrictSign, so an envelope naming someone other than its signer is forged.
// - ignore (dropped, not forwarded, nobody penalised) for what a newer or differently
//   configured agent could send in good faith: wrong_topic (a known type on a topic the
//   original never puts it on), hop_limit (a discussion message re-published more than
//   kMaxHops times: ignoring is what stops it, since gossipsub forwards whatever the
//   validator accepts), unknown_topic (a topic that is not one of ours).
// - accept, with a note for counting: unknown_type (a type outside the 13, kept for
//   compatibility), future_version (version > kEnvelopeVersion whose v1 fields parse).
//
// Note for the router's scoring: the original registers no validators, so its nodes
// forward every signed message, malformed or not; a reject therefore often names an
// innocent Go forwarder rather than the author.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "coord/messages/envelope.h"
#include "p2p/identity/peer_id.h"

namespace bzzz::coord {

enum class Verdict { kAccept, kReject, kIgnore };

struct Check {
  Verdict verdict = Verdict::kAccept;
  // The metric label: the fault or policy for reject/ignore, the note for an accept
  // ("unknown_type", "future_version"), empty for a plain accept. Always a literal.
  std::string_view reason;
  std::string detail;  // for logs: which field, what was there

  bool accepted() const { return verdict == Verdict::kAccept; }
};

// `publisher` is the gossipsub message's `from` (its verified signer).
Check check_message(std::string_view topic, std::span<const uint8_t> data, const p2p::PeerId& publisher);

}  // namespace bzzz::coord
