#include "coord/agents/message_metrics.h"

#include <string>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

namespace bzzz::coord {

std::string_view topic_kind_label(TopicKind kind) {
  switch (kind) {
    case TopicKind::kCoordination: return "coordination";
    case TopicKind::kMetaDiscussion: return "meta_discussion";
    case TopicKind::kIssue: return "issue";
    case TopicKind::kOther: break;
  }
  return "other";
}

std::string_view verdict_label(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAccept: return "accept";
    case Verdict::kReject: return "reject";
    case Verdict::kIgnore: break;
  }
  return "ignore";
}

std::function<void(const Check&)> message_observer(prometheus::Registry* metrics, TopicKind kind) {
  prometheus::Family<prometheus::Counter>* family = nullptr;
  if (metrics != nullptr) {
    // Registering the same family again (a second topic) returns the first: prometheus-cpp
    // merges families of the same name and labels.
    family = &prometheus::BuildCounter()
                  .Name("bzzz_coord_messages_total")
                  .Help("Messages on bzzz topics by topic kind and validator verdict, with the reason")
                  .Register(*metrics);
  }
  const std::string topic_kind(topic_kind_label(kind));
  return [family, topic_kind](const Check& check) {
    if (family != nullptr) {
      // Family::Add finds an existing child under its own lock; the label set is small
      // and fixed (every reason is a literal).
      family
          ->Add({{"topic_kind", topic_kind},
                 {"verdict", std::string(verdict_label(check.verdict))},
                 {"reason", check.reason.empty() ? std::string("none") : std::string(check.reason)}})
          .Increment();
    }
    if (check.verdict == Verdict::kReject) {
      spdlog::debug("coord: rejected a message on a {} topic ({}): {}", topic_kind, check.reason, check.detail);
    }
  };
}

}  // namespace bzzz::coord
