// base/encoding: RFC 4648 base32 as multibase 'b' uses it in CIDs: lowercase alphabet
// a-z2-7, no '=' padding.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status/result.h"

namespace bzzz {

std::string base32_encode(std::span<const uint8_t> bytes);
// Accepts upper and lower case. Rejects characters outside the alphabet (including
// '='), lengths that cannot encode whole bytes (1, 3 or 6 mod 8), and non-zero unused
// bits in the last character, so every byte string has exactly one accepted spelling
// per case. Errors name the offending position.
Result<std::vector<uint8_t>> base32_decode(std::string_view text);

}  // namespace bzzz
