// base/encoding: unsigned varints as multiformats use them (LEB128, at most 9 bytes,
// minimal encoding only), for multiaddrs, multihashes, CIDs and libp2p length prefixes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status/result.h"

namespace bzzz {

inline constexpr size_t kMaxVarintBytes = 9;  // multiformats caps varints at 63 bits

void varint_append(std::vector<uint8_t>& out, uint64_t value);
size_t varint_size(uint64_t value);

// Reads one varint from the front of `in` and advances it. Errors say whether the input
// ended inside it, ran past 9 bytes, or was not minimally encoded (a trailing 0x00
// continuation byte), so two spellings never name the same number.
Result<uint64_t> varint_read(std::span<const uint8_t>& in);

// As varint_read, but a varint that is merely not complete yet (a stream that has not
// delivered it all) is nullopt rather than an error.
Result<std::optional<uint64_t>> varint_try_read(std::span<const uint8_t>& in);

}  // namespace bzzz
