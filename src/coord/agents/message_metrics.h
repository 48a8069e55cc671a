// coord/agents: counting what the topic validators see, for every bzzz topic a node
// joins: bzzz_coord_messages_total{topic_kind, verdict, reason}. The coordination agent
// uses it for bzzz/coordination/v1; whoever joins the meta-discussion and issue topics
// passes one of these to coord::pubsub_validator too.
//
// Depends on coord/messages (Check, TopicKind) and prometheus-cpp only.
#pragma once

#include <functional>
#include <string_view>

#include "coord/messages/types.h"
#include "coord/messages/validate.h"

namespace prometheus {
class Registry;
}

namespace bzzz::coord {

// "coordination", "meta_discussion", "issue", "other".
std::string_view topic_kind_label(TopicKind kind);
// "accept", "reject", "ignore".
std::string_view verdict_label(Verdict verdict);

// An observer for coord::pubsub_validator. It runs under the router's mutex, so it only
// bumps a counter (reason "none" for a plain accept) and logs rejects at debug level.
// With a null registry it still logs.
std::function<void(const Check&)> message_observer(prometheus::Registry* metrics, TopicKind kind);

}  // namespace bzzz::coord
