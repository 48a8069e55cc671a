// services/api: the HTTP Range header (RFC 9110 14.1), one byte range only. Pure, so
// it can be fuzzed and tested without a server.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/status/result.h"

namespace bzzz::api {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// "bytes=0-99", "bytes=100-", "bytes=-500" against a body of `size` bytes. An end past
// the body is clipped (as the RFC says). Errors (answered 416): not "bytes=", more than
// one range, malformed numbers, a start past the end, an empty suffix.
Result<ByteRange> parse_range(std::string_view header, uint64_t size);

}  // namespace bzzz::api
