#include "base/encoding/base32.h"

#include <fmt/format.h>

namespace bzzz {

std::string base32_encode(std::span<const uint8_t> bytes) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(acc >> bits) & 0x1f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (5 - bits)) & 0x1f]);
  return out;
}

static int base32_value(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

// Printable characters are shown as themselves; anything else as a byte value, so an
// error message never carries control characters to a terminal.
static std::string describe_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return fmt::format("'{}'", c);
  return fmt::format("byte 0x{:02x}", u);
}

Result<std::vector<uint8_t>> base32_decode(std::string_view text) {
  size_t tail = text.size() % 8;
  if (tail == 1 || tail == 3 || tail == 6) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("base32 text has impossible length {} ({} mod 8 cannot "
                                  "encode whole bytes)",
                                  text.size(), tail));
  }
  std::vector<uint8_t> out;
  out.reserve(text.size() * 5 / 8);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    int v = base32_value(text[i]);
    if (v < 0) {
      if (text[i] == '=') {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("base32 padding '=' is not allowed (position {})", i));
      }
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("invalid base32 character {} at position {}",
                                    describe_char(text[i]), i));
    }
    acc = (acc << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  // The length check leaves fewer than 5 bits over; they must be zero or two
  // spellings would decode to the same bytes.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("base32 character at position {} has non-zero unused bits",
                                  text.size() - 1));
  }
  return out;
}

}  // namespace bzzz
