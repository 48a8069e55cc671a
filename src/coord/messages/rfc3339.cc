#include "coord/messages/rfc3339.h"

#include <cstdint>
#include <optional>

#include <fmt/format.h>

namespace bzzz::coord {
namespace {

// `count` ASCII digits at `pos`, or nullopt.
std::optional<int> digits(std::string_view s, size_t pos, size_t count) {
  if (pos + count > s.size()) return std::nullopt;
  int value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

bool at(std::string_view s, size_t pos, char c) { return pos < s.size() && s[pos] == c; }

Error bad(std::string_view text, std::string_view why) {
  return Error(ErrorCode::kInvalidArgument,
               fmt::format("{} is not an RFC 3339 time: {}", bzzz::quoted(text), why));
}

}  // namespace

Result<TimePoint> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS is 19 bytes; the zone adds at least one.
  auto year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  auto hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || !at(s, 4, '-') ||
      !at(s, 7, '-') || !at(s, 10, 'T') || !at(s, 13, ':') || !at(s, 16, ':')) {
    return fail(bad(s, "want YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)"));
  }
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return fail(bad(s, "no such date"));
  if (*hour > 23 || *minute > 59 || *second > 59) return fail(bad(s, "no such time of day"));

  size_t pos = 19;
  int64_t nanos = 0;
  if (at(s, pos, '.')) {
    ++pos;
    const size_t start = pos;
    int64_t scale = 100'000'000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      nanos += (s[pos] - '0') * scale;  // past the ninth digit scale is 0: dropped
      scale /= 10;
      ++pos;
    }
    if (pos == start) return fail(bad(s, "'.' without digits"));
  }

  int64_t offset_seconds = 0;
  if (at(s, pos, 'Z')) {
    ++pos;
  } else if (at(s, pos, '+') || at(s, pos, '-')) {
    auto oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
    if (!oh || !om || !at(s, pos + 3, ':') || *oh > 23 || *om > 59) {
      return fail(bad(s, "bad zone offset"));
    }
    offset_seconds = (*oh * 3600 + *om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return fail(bad(s, "no zone ('Z' or an offset)"));
  }
  if (pos != s.size()) return fail(bad(s, "trailing bytes"));

  const int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  const int64_t seconds = days * 86'400 + *hour * 3'600 + *minute * 60 + *second - offset_seconds;
  // What a signed 64-bit nanosecond count holds (1677-09-21 .. 2262-04-11), rounded in.
  if (seconds < -9'223'372'035 || seconds > 9'223'372'035) {
    return fail(bad(s, "outside the years 1678..2261"));
  }
  return TimePoint(std::chrono::nanoseconds(seconds * 1'000'000'000 + nanos));
}

std::string format_rfc3339(TimePoint time) {
  const auto day = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day date{day};
  const std::chrono::hh_mm_ss tod{time - day};
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(date.year()),
                                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                                tod.hours().count(), tod.minutes().count(), tod.seconds().count());
  auto nanos = tod.subseconds().count();
  if (nanos != 0) {
    std::string fraction = fmt::format("{:09}", nanos);
    fraction.erase(fraction.find_last_not_of('0') + 1);
    out += '.';
    out += fraction;
  }
  out += 'Z';
  return out;
}

}  // namespace bzzz::coord
