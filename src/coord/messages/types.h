// coord/messages: the original BZZZ's gossip vocabulary: its 13 v1 message types, its
// topics (bzzz/coordination/v1, antennae/ and hmmm/meta-discussion/v1, the per-issue
// rooms bzzz/meta/issue/{n}) and which type goes on which topic. Pure; no I/O.
//
// Facts from anthonyrawlins/bzzz (pubsub/pubsub.go and its callers): task and
// agent-status types are published with PublishBzzzMessage on the coordination topic;
// discussion types with PublishAntennaeMessage on the meta-discussion topic, and the
// help request/response pair with PublishToDynamicTopic on bzzz/meta/issue/{n}, whose
// messages go to the same handler as the meta-discussion topic's.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bzzz::coord {

enum class MessageType {
  // bzzz/coordination/v1
  kTaskAnnouncement,
  kTaskClaim,
  kTaskProgress,
  kTaskComplete,
  kCapabilityBroadcast,    // sent when an agent's capabilities change
  kAvailabilityBroadcast,  // sent every 30 s
  // meta-discussion topics and bzzz/meta/issue/{n}
  kMetaDiscussion,
  kTaskHelpRequest,
  kTaskHelpResponse,
  kCoordinationRequest,
  kCoordinationComplete,
  kDependencyAlert,
  kEscalationTrigger,
  // Any other string: the original's earliest commits (plan_proposal, objection, ...)
  // and its v2 role/expertise/project types. Carried, never interpreted.
  kUnknown,
};

// The 13 known types in the order above.
std::span<const MessageType> known_message_types();
// "task_announcement" ...; "" for kUnknown.
std::string_view type_name(MessageType type);
// kUnknown for a name that is not one of the 13.
MessageType message_type(std::string_view name);

inline constexpr std::string_view kCoordinationTopic = "bzzz/coordination/v1";
inline constexpr std::string_view kHmmmTopic = "hmmm/meta-discussion/v1";
// The v1 code's name for the meta-discussion topic; its agents still use it.
inline constexpr std::string_view kAntennaeTopic = "antennae/meta-discussion/v1";
inline constexpr std::string_view kIssueTopicPrefix = "bzzz/meta/issue/";

enum class TopicKind {
  kCoordination,    // bzzz/coordination/v1
  kMetaDiscussion,  // hmmm/ or antennae/meta-discussion/v1
  kIssue,           // bzzz/meta/issue/{n}
  kOther,           // not one of ours
};
TopicKind topic_kind(std::string_view topic);

// "bzzz/meta/issue/42", as Go's fmt "%d" writes the issue number.
std::string issue_topic(uint64_t issue);
// The issue number of a per-issue topic: decimal digits, no sign, no leading zero, at
// least 1 and at most 2^63-1 (Go's int); nullopt for anything else.
std::optional<uint64_t> parse_issue_topic(std::string_view topic);

// Where the original publishes a type: kCoordination for the six task/status types,
// kMetaDiscussion for the seven discussion types (they may also go to per-issue
// topics), kOther for kUnknown.
TopicKind home_topic(MessageType type);
// Whether a type may appear on a topic of this kind. Unknown types may appear
// anywhere: we cannot know where a newer agent puts them.
bool allowed_on(MessageType type, TopicKind kind);

// A discussion type: the ones hop_count limits.
bool is_meta_discussion(MessageType type);

}  // namespace bzzz::coord
