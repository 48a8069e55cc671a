// base/encoding: base58btc (the Bitcoin alphabet), the text form of libp2p peer ids
// ("12D3KooW...", "Qm...") and multibase 'z'.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status/result.h"

namespace bzzz {

std::string base58_encode(std::span<const uint8_t> bytes);
// Rejects characters outside the alphabet (0, O, I, l included), naming the position.
Result<std::vector<uint8_t>> base58_decode(std::string_view text);

}  // namespace bzzz
