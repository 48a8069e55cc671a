// p2p/multistream: the multistream-select 1.0 wire format, as pure functions over bytes
// (the negotiation itself, over a stream, builds on these). Each message is
// uvarint(length) || UTF-8 text || '\n', the length counting the '\n'. The header is
// /multistream/1.0.0, a refusal is "na", and "ls" asks for the protocols a peer serves.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status/result.h"

namespace bzzz::p2p::mss {

inline constexpr std::string_view kHeader = "/multistream/1.0.0";
inline constexpr std::string_view kNa = "na";
inline constexpr std::string_view kLs = "ls";
// go and js refuse longer messages; a protocol id is far shorter.
inline constexpr size_t kMaxMessage = 1024;

void append_message(std::vector<uint8_t>& out, std::string_view text);
std::vector<uint8_t> message(std::string_view text);

// Takes one message off the front of `in` (advancing it) and returns its text without
// the '\n'; nullopt when `in` does not hold a whole message yet. Errors: a length over
// kMaxMessage, an empty message, a message not ending in '\n', a malformed varint.
Result<std::optional<std::string>> read_message(std::span<const uint8_t>& in);

// The answer to "ls": one message whose body is each protocol as a message of its own,
// then '\n'.
std::vector<uint8_t> ls_response(const std::vector<std::string>& protocols);
Result<std::vector<std::string>> parse_ls_body(std::string_view body);

}  // namespace bzzz::p2p::mss
