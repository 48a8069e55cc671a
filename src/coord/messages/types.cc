#include "coord/messages/types.h"

#include <array>
#include <limits>

namespace bzzz::coord {
namespace {

struct TypeEntry {
  MessageType type;
  std::string_view name;
};
constexpr std::array<TypeEntry, 13> kTypes{{
    {MessageType::kTaskAnnouncement, "task_announcement"},
    {MessageType::kTaskClaim, "task_claim"},
    {MessageType::kTaskProgress, "task_progress"},
    {MessageType::kTaskComplete, "task_complete"},
    {MessageType::kCapabilityBroadcast, "capability_broadcast"},
    {MessageType::kAvailabilityBroadcast, "availability_broadcast"},
    {MessageType::kMetaDiscussion, "meta_discussion"},
    {MessageType::kTaskHelpRequest, "task_help_request"},
    {MessageType::kTaskHelpResponse, "task_help_response"},
    {MessageType::kCoordinationRequest, "coordination_request"},
    {MessageType::kCoordinationComplete, "coordination_complete"},
    {MessageType::kDependencyAlert, "dependency_alert"},
    {MessageType::kEscalationTrigger, "escalation_trigger"},
}};

constexpr std::array<MessageType, 13> kKnown = [] {
  std::array<MessageType, 13> out{};
  for (size_t i = 0; i < kTypes.size(); ++i) out[i] = kTypes[i].type;
  return out;
}();

}  // namespace

std::span<const MessageType> known_message_types() { return kKnown; }

std::string_view type_name(MessageType type) {
  for (const auto& entry : kTypes) {
    if (entry.type == type) return entry.name;
  }
  return {};
}

MessageType message_type(std::string_view name) {
  for (const auto& entry : kTypes) {
    if (entry.name == name) return entry.type;
  }
  return MessageType::kUnknown;
}

TopicKind topic_kind(std::string_view topic) {
  if (topic == kCoordinationTopic) return TopicKind::kCoordination;
  if (topic == kHmmmTopic || topic == kAntennaeTopic) return TopicKind::kMetaDiscussion;
  if (parse_issue_topic(topic)) return TopicKind::kIssue;
  return TopicKind::kOther;
}

std::string issue_topic(uint64_t issue) {
  std::string topic(kIssueTopicPrefix);
  topic += std::to_string(issue);
  return topic;
}

std::optional<uint64_t> parse_issue_topic(std::string_view topic) {
  if (!topic.starts_with(kIssueTopicPrefix)) return std::nullopt;
  const std::string_view digits = topic.substr(kIssueTopicPrefix.size());
  // 19 digits cover 2^63-1; a leading zero is not how "%d" writes a number.
  if (digits.empty() || digits.size() > 19 || digits[0] == '0') return std::nullopt;
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return value;
}

TopicKind home_topic(MessageType type) {
  switch (type) {
    case MessageType::kTaskAnnouncement:
    case MessageType::kTaskClaim:
    case MessageType::kTaskProgress:
    case MessageType::kTaskComplete:
    case MessageType::kCapabilityBroadcast:
    case MessageType::kAvailabilityBroadcast:
      return TopicKind::kCoordination;
    case MessageType::kMetaDiscussion:
    case MessageType::kTaskHelpRequest:
    case MessageType::kTaskHelpResponse:
    case MessageType::kCoordinationRequest:
    case MessageType::kCoordinationComplete:
    case MessageType::kDependencyAlert:
    case MessageType::kEscalationTrigger:
      return TopicKind::kMetaDiscussion;
    case MessageType::kUnknown:
      break;
  }
  return TopicKind::kOther;
}

bool is_meta_discussion(MessageType type) { return home_topic(type) == TopicKind::kMetaDiscussion; }

bool allowed_on(MessageType type, TopicKind kind) {
  if (type == MessageType::kUnknown) return true;
  switch (kind) {
    case TopicKind::kCoordination:
      return home_topic(type) == TopicKind::kCoordination;
    case TopicKind::kMetaDiscussion:
    case TopicKind::kIssue:
      return is_meta_discussion(type);
    case TopicKind::kOther:
      break;
  }
  return false;
}

}  // namespace bzzz::coord
