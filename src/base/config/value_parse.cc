#include "base/config/value_parse.h"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace bzzz::config {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = lower(c);
  return out;
}

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_digit(c)) return false;
  }
  return true;
}

tl::unexpected<Error> not_a(std::string_view text, std::string_view expected,
                            std::string_view detail = {}) {
  std::string message = fmt::format("{} is not {}", quote_value(text), expected);
  if (!detail.empty()) message += fmt::format(": {}", detail);
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

// A non-negative decimal "12" or "1.25" at the front of `text`. The whole part is kept
// exact so that large sizes and long durations do not lose units to rounding; only the
// fraction goes through a double.
struct Decimal {
  uint64_t whole = 0;
  double fraction = 0;
  bool has_fraction = false;
  bool overflow = false;
};

std::optional<Decimal> read_decimal(std::string_view& text) {
  Decimal d;
  size_t i = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (d.whole > (std::numeric_limits<uint64_t>::max() - digit) / 10) d.overflow = true;
    d.whole = d.whole * 10 + digit;
  }
  if (i == 0) return std::nullopt;
  if (i < text.size() && text[i] == '.') {
    size_t start = ++i;
    double scale = 0.1;
    for (; i < text.size() && is_digit(text[i]); ++i, scale /= 10) {
      d.fraction += (text[i] - '0') * scale;
    }
    if (i == start) return std::nullopt;
    d.has_fraction = true;
  }
  text.remove_prefix(i);
  return d;
}

// whole*unit + fraction*unit, or nullopt past `limit`.
std::optional<uint64_t> scale(const Decimal& d, uint64_t unit, uint64_t limit) {
  if (d.overflow || (unit != 0 && d.whole > limit / unit)) return std::nullopt;
  uint64_t value = d.whole * unit;
  auto part = static_cast<uint64_t>(std::llround(d.fraction * static_cast<double>(unit)));
  if (part > limit - value) return std::nullopt;
  return value + part;
}

struct Unit {
  std::string_view name;
  uint64_t factor;
};

constexpr std::array<Unit, 8> kDurationUnits = {{
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // µs
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
    {"", 0},  // a bare number: only "0" is allowed
}};

constexpr uint64_t kKi = 1024;
constexpr std::array<Unit, 17> kByteUnits = {{
    {"", 1},
    {"b", 1},
    {"k", kKi},
    {"kib", kKi},
    {"kb", 1000},
    {"m", kKi * kKi},
    {"mib", kKi * kKi},
    {"mb", 1000 * 1000},
    {"g", kKi * kKi * kKi},
    {"gib", kKi * kKi * kKi},
    {"gb", 1000ull * 1000 * 1000},
    {"t", kKi * kKi * kKi * kKi},
    {"tib", kKi * kKi * kKi * kKi},
    {"tb", 1000ull * 1000 * 1000 * 1000},
    {"p", kKi * kKi * kKi * kKi * kKi},
    {"pib", kKi * kKi * kKi * kKi * kKi},
    {"pb", 1000ull * 1000 * 1000 * 1000 * 1000},
}};

template <size_t N>
std::optional<uint64_t> find_unit(const std::array<Unit, N>& units, std::string_view name) {
  for (const auto& unit : units) {
    if (unit.name == name) return unit.factor;
  }
  return std::nullopt;
}

}  // namespace

// Long input is cut so a pasted file cannot flood a log line; control characters are
// escaped so the message is safe to print.
std::string quote_value(std::string_view text) { return quoted(text); }

Result<bool> parse_bool(std::string_view text) {
  std::string word = to_lower(trim(text));
  if (word == "true" || word == "yes" || word == "on" || word == "1") return true;
  if (word == "false" || word == "no" || word == "off" || word == "0") return false;
  return not_a(text, "a boolean (true/false, yes/no, on/off, 1/0)");
}

Result<int64_t> parse_int(std::string_view text) {
  std::string_view t = trim(text);
  bool negative = !t.empty() && t.front() == '-';
  std::string_view digits = t;
  if (!t.empty() && (t.front() == '-' || t.front() == '+')) digits.remove_prefix(1);
  if (!all_digits(digits)) return not_a(text, "an integer");
  // from_chars takes a leading '-' but not a '+'.
  std::string_view number = negative ? t : digits;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return not_a(text, "an integer", "out of the 64-bit range");
  }
  if (ec != std::errc() || end != number.data() + number.size()) {
    return not_a(text, "an integer");
  }
  return value;
}

Result<double> parse_double(std::string_view text) {
  std::string_view t = trim(text);
  if (t.size() > 1 && t.front() == '+' && t[1] != '-') t.remove_prefix(1);
  // from_chars also reads "inf" and "nan"; a setting wants a real number.
  bool has_digit = false;
  for (char c : t) {
    if (is_digit(c)) has_digit = true;
    if (!is_digit(c) && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E') {
      return not_a(text, "a number");
    }
  }
  if (!has_digit) return not_a(text, "a number");
  double value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (ec == std::errc::result_out_of_range) return not_a(text, "a number", "out of range");
  if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(value)) {
    return not_a(text, "a number");
  }
  return value;
}

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  constexpr std::string_view kExpected = "a duration (like 250ms, 1.5s, 5m, 2h)";
  std::string_view rest = trim(text);
  if (!rest.empty() && rest.front() == '-') return not_a(text, kExpected, "negative");
  if (!rest.empty() && rest.front() == '+') rest.remove_prefix(1);
  auto number = read_decimal(rest);
  if (!number) return not_a(text, kExpected);
  std::string_view unit_name = trim(rest);
  auto unit = find_unit(kDurationUnits, unit_name);
  if (!unit) return not_a(text, kExpected, "unknown unit (use ns, us, ms, s, m or h)");
  if (*unit == 0) {
    if (number->whole == 0 && number->fraction == 0) return std::chrono::nanoseconds(0);
    return not_a(text, kExpected, "a unit is required (ns, us, ms, s, m or h)");
  }
  auto ns = scale(*number, *unit, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
  if (!ns) return not_a(text, kExpected, "too long (at most about 292 years)");
  return std::chrono::nanoseconds(static_cast<int64_t>(*ns));
}

Result<uint64_t> parse_bytes(std::string_view text) {
  constexpr std::string_view kExpected = "a size (like 4096, 64KiB, 1.5GiB, 1GB)";
  std::string_view rest = trim(text);
  if (!rest.empty() && rest.front() == '-') return not_a(text, kExpected, "negative");
  if (!rest.empty() && rest.front() == '+') rest.remove_prefix(1);
  auto number = read_decimal(rest);
  if (!number) return not_a(text, kExpected);
  auto unit = find_unit(kByteUnits, to_lower(trim(rest)));
  if (!unit) {
    return not_a(text, kExpected, "unknown unit (use B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)");
  }
  if (*unit == 1 && number->has_fraction) {
    return not_a(text, kExpected, "a fraction of a byte");
  }
  auto bytes = scale(*number, *unit, std::numeric_limits<uint64_t>::max());
  if (!bytes) return not_a(text, kExpected, "too large for 64 bits");
  return *bytes;
}

Result<HostPort> parse_host_port(std::string_view text) {
  constexpr std::string_view kExpected = "host:port";
  std::string_view t = trim(text);
  std::string_view host;
  std::string_view port;
  if (!t.empty() && t.front() == '[') {
    size_t close = t.find(']');
    if (close == std::string_view::npos) return not_a(text, kExpected, "missing ']'");
    host = t.substr(1, close - 1);
    std::string_view after = t.substr(close + 1);
    if (after.empty() || after.front() != ':') return not_a(text, kExpected, "missing :port");
    port = after.substr(1);
  } else {
    size_t colon = t.rfind(':');
    if (colon == std::string_view::npos) return not_a(text, kExpected, "missing :port");
    host = t.substr(0, colon);
    port = t.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return not_a(text, kExpected, "an IPv6 address needs brackets, as in [::1]:8080");
    }
  }
  if (host.empty()) {
    return not_a(text, kExpected, "missing host (0.0.0.0 or [::] listens on every interface)");
  }
  for (char c : host) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == '[' || c == ']') {
      return not_a(text, kExpected, "the host has a character a host name cannot have");
    }
  }
  if (!all_digits(port) || port.size() > 5) {
    return not_a(text, kExpected, "the port must be a number from 0 to 65535");
  }
  unsigned value = 0;
  std::from_chars(port.data(), port.data() + port.size(), value);
  if (value > 65535) return not_a(text, kExpected, "the port must be a number from 0 to 65535");
  return HostPort{std::string(host), static_cast<uint16_t>(value)};
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = trim(text.substr(0, comma));
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

Status check_range(std::string_view text, double value, std::optional<double> min,
                   std::optional<double> max, std::string_view unit) {
  // fmt prints a double bound without a trailing ".0", so "at least 1s" reads naturally.
  if (min && value < *min) return not_a(text, fmt::format("at least {}{}", *min, unit));
  if (max && value > *max) return not_a(text, fmt::format("at most {}{}", *max, unit));
  return ok();
}

Status check_choice(std::string_view text, const std::vector<std::string>& choices) {
  for (const auto& choice : choices) {
    if (choice == text) return ok();
  }
  return not_a(text, fmt::format("one of {}", fmt::join(choices, ", ")));
}

}  // namespace bzzz::config
