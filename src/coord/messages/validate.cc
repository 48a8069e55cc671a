#include "coord/messages/validate.h"

#include <utility>

#include <fmt/format.h>

namespace bzzz::coord {
namespace {

Check make(Verdict verdict, std::string_view reason, std::string detail) {
  return Check{verdict, reason, std::move(detail)};
}

}  // namespace

Check check_message(std::string_view topic, std::span<const uint8_t> data, const p2p::PeerId& publisher) {
  const TopicKind kind = topic_kind(topic);
  if (kind == TopicKind::kOther) {
    return make(Verdict::kIgnore, "unknown_topic", fmt::format("topic {} is not a bzzz topic", bzzz::quoted(topic)));
  }

  auto envelope = decode_envelope(data);
  if (!envelope) {
    return make(Verdict::kReject, fault_label(envelope.error().fault), std::move(envelope.error().message));
  }

  // decode_envelope checked that `from` parses. Compared as ids, not text: the CID
  // form of the signer's id is the same peer.
  auto from = p2p::PeerId::parse(envelope->from);
  if (!from || *from != publisher) {
    return make(Verdict::kReject, "from_mismatch",
                fmt::format("envelope from {} but signed by {}", bzzz::quoted(envelope->from), publisher.to_string()));
  }

  const MessageType type = envelope->kind();
  if (!allowed_on(type, kind)) {
    return make(Verdict::kIgnore, "wrong_topic",
                fmt::format("{} does not belong on {}", envelope->type, topic));
  }

  if ((kind == TopicKind::kMetaDiscussion || kind == TopicKind::kIssue) && envelope->hop_count > kMaxHops) {
    return make(Verdict::kIgnore, "hop_limit",
                fmt::format("hop_count {} is over {}", envelope->hop_count, kMaxHops));
  }

  if (type == MessageType::kUnknown) {
    return make(Verdict::kAccept, "unknown_type", fmt::format("type {}", bzzz::quoted(envelope->type)));
  }
  if (envelope->version > kEnvelopeVersion) {
    return make(Verdict::kAccept, "future_version", fmt::format("version {}", envelope->version));
  }
  return Check{};
}

}  // namespace bzzz::coord
