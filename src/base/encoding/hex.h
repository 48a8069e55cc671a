// base/encoding: byte <-> text encodings used on the wire and in user-facing output.
// Pure functions over spans; they never allocate more than their output.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status/result.h"

namespace bzzz {

std::string hex_encode(std::span<const uint8_t> bytes);
// Accepts upper and lower case; rejects odd lengths and non-hex characters, naming the
// offending position.
Result<std::vector<uint8_t>> hex_decode(std::string_view text);

}  // namespace bzzz
