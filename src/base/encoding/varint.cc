#include "base/encoding/varint.h"

#include <fmt/format.h>

namespace bzzz {

void varint_append(std::vector<uint8_t>& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<uint8_t>(value) | 0x80);
    value >>= 7;
  }
  out.push_back(static_cast<uint8_t>(value));
}

size_t varint_size(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

Result<std::optional<uint64_t>> varint_try_read(std::span<const uint8_t>& in) {
  uint64_t value = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (i >= kMaxVarintBytes) {
      return make_error(ErrorCode::kInvalidArgument, "varint longer than 9 bytes");
    }
    uint8_t b = in[i];
    value |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("varint not minimally encoded ({} bytes for {})", i + 1, value));
      }
      in = in.subspan(i + 1);
      return std::optional<uint64_t>(value);
    }
  }
  if (in.size() >= kMaxVarintBytes) {
    return make_error(ErrorCode::kInvalidArgument, "varint longer than 9 bytes");
  }
  return std::optional<uint64_t>();
}

Result<uint64_t> varint_read(std::span<const uint8_t>& in) {
  BZZZ_ASSIGN_OR_RETURN(auto value, varint_try_read(in));
  if (!value) {
    return make_error(ErrorCode::kInvalidArgument,
                      in.empty() ? "expected a varint, found the end of the input"
                                 : "input ends inside a varint");
  }
  return *value;
}

}  // namespace bzzz
