// coord/messages: RFC 3339 times as the original BZZZ's Go agents write and read them
// (Go's time.Time JSON form: "2006-01-02T15:04:05.999999999Z07:00", the fraction's
// trailing zeros trimmed, a zone offset or "Z"). Pure functions; depends on base/status.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/status/result.h"

namespace bzzz::coord {

using TimePoint = std::chrono::sys_time<std::chrono::nanoseconds>;

// Accepts what Go's time.Time.UnmarshalJSON accepts (it is strict since Go 1.20): a
// four-digit year, an upper-case 'T', seconds 00-59 (no leap second), an optional '.'
// fraction of any length (digits past the ninth are dropped, as Go does), then 'Z' or
// "+hh:mm"/"-hh:mm". The result is UTC. Times a nanosecond time point cannot hold
// (before 1678 or after 2261) are errors too. Errors quote the text.
Result<TimePoint> parse_rfc3339(std::string_view text);

// UTC with 'Z', nanoseconds with trailing zeros trimmed (no '.' when they are all
// zero): byte for byte what Go writes for time.Now().UTC().
std::string format_rfc3339(TimePoint time);

}  // namespace bzzz::coord
