#include "services/api/range.h"

#include <charconv>

#include <fmt/format.h>

namespace bzzz::api {

namespace {
std::optional<uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

Result<ByteRange> parse_range(std::string_view header, uint64_t size) {
  auto bad = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Range '{}' {} (the blob has {} bytes)", header, why, size));
  };
  std::string_view h = trim(header);
  if (!h.starts_with("bytes=")) return bad("is not a byte range (expected bytes=START-END)");
  std::string_view spec = trim(h.substr(6));
  if (spec.find(',') != std::string_view::npos) return bad("asks for several ranges; one is served");
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return bad("has no '-'");
  std::string_view first = trim(spec.substr(0, dash)), last = trim(spec.substr(dash + 1));
  if (first.empty()) {
    auto suffix = number(last);
    if (!suffix) return bad("has a malformed suffix length");
    if (*suffix == 0 || size == 0) return bad("asks for no bytes");
    uint64_t n = std::min(*suffix, size);
    return ByteRange{size - n, n};
  }
  auto start = number(first);
  if (!start) return bad("has a malformed start");
  if (*start >= size) return bad("starts past the end");
  uint64_t end = size - 1;
  if (!last.empty()) {
    auto e = number(last);
    if (!e) return bad("has a malformed end");
    if (*e < *start) return bad("ends before it starts");
    end = std::min(*e, size - 1);
  }
  return ByteRange{*start, end - *start + 1};
}

}  // namespace bzzz::api
