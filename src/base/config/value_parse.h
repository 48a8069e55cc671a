// base/config: the parsers of option values, the one place that decides what text a
// user may write for a bool, a size, a duration or an address. Pure functions over
// text, so they can be fuzzed and reused by flag parsing; they know nothing of keys,
// files or the environment.
//
// Every error message reads `<quote_value(text)> is not <what was expected>[: detail]`
// and the detail never repeats the text. A caller that knows where the text came from
// can therefore put that right after the quoted value (or hide the value of a secret).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status/result.h"

namespace bzzz::config {

struct HostPort {
  std::string host;  // without the brackets of an IPv6 literal
  uint16_t port = 0;
};

// The quoted, escaped and length-capped form of a value, as the parsers show it.
std::string quote_value(std::string_view text);

// Surrounding whitespace is ignored by every parser below.
Result<bool> parse_bool(std::string_view text);  // true/false/yes/no/on/off/1/0
Result<int64_t> parse_int(std::string_view text);
Result<double> parse_double(std::string_view text);  // finite only
// "250ms", "1.5s", "5m", "2h", "100us", "10ns"; a bare "0" is allowed, any other number
// needs a unit, because "30" might mean seconds to one reader and ms to another.
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);
// "4096", "64KiB", "1.5GiB"; K/M/G/T/P alone are binary (as in most tools' flags),
// KB/MB/GB/TB/PB decimal. A fraction needs a unit and is rounded to whole bytes.
Result<uint64_t> parse_bytes(std::string_view text);
// "127.0.0.1:8080", "[::1]:8080", "localhost:0".
Result<HostPort> parse_host_port(std::string_view text);
// Comma separated; items trimmed; empty items dropped, so "" is the empty list.
std::vector<std::string> split_list(std::string_view text);

// Checks a parsed value against an option's bounds; `unit` follows the bound in the
// message ("s" for durations, " bytes" for sizes).
Status check_range(std::string_view text, double value, std::optional<double> min,
                   std::optional<double> max, std::string_view unit = {});
Status check_choice(std::string_view text, const std::vector<std::string>& choices);

}  // namespace bzzz::config
