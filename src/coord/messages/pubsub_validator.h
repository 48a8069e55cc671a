// coord/messages: check_message (validate.h) as a gossipsub Validator. Register it for
// each topic we join:
//   router->set_validator(std::string(coord::kCoordinationTopic), coord::pubsub_validator(observe));
// Validators run under the router's mutex: check_message is pure and parses at most
// kMaxEnvelopeBytes, and `observe` must be as quick (a counter increment).
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "coord/messages/validate.h"
#include "p2p/pubsub/router.h"

namespace bzzz::coord {

// `observe`, if set, sees every Check, including the accept notes (unknown_type,
// future_version) that a pubsub Validation cannot carry: count them there, e.g. in
// bzzz_coord_messages_total{topic_kind, verdict, reason}.
inline p2p::pubsub::Validator pubsub_validator(std::function<void(const Check&)> observe = {}) {
  return [observe = std::move(observe)](const p2p::pubsub::Message& message) {
    Check check = check_message(message.topic, message.data, message.from);
    if (observe) observe(check);
    switch (check.verdict) {
      case Verdict::kAccept:
        return p2p::pubsub::Validation::accept();
      case Verdict::kReject:
        return p2p::pubsub::Validation::reject(std::string(check.reason));
      case Verdict::kIgnore:
        break;
    }
    return p2p::pubsub::Validation::ignore(std::string(check.reason));
  };
}

}  // namespace bzzz::coord
