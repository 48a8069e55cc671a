// content/exchange: the messages of /bzzz/blob/1.0.0 (p2p/proto/blob.proto) as plain
// structs, and their encoding. Pure functions over bytes, so they can be fuzzed; every
// decoder checks what the other side may not get wrong (hash lengths, counts, a piece
// tree whose shape fits the size, a range inside the blob) and names what was wrong.
//
// Verified transfer: a blob of size S has full_pieces(S) pieces of 1 MiB (the BLAKE3
// subtrees of base/crypto/blake3.h) and a tail of 1 byte to 1 MiB after them. A GET
// with want_tree answers the pieces' chaining values and the tail, which together must
// hash to the blob's name (root_with_tail): the receiver proves the tree before any
// piece arrives, then checks each piece alone as it comes, so one bad byte is caught at
// its piece, not at the end.
//
// Depends on base/ and p2p/proto only.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/crypto/blake3.h"
#include "base/crypto/hash.h"
#include "base/status/result.h"

namespace bzzz::exchange {

inline constexpr std::string_view kProtocol = "/bzzz/blob/1.0.0";
inline constexpr size_t kMaxHashesPerRequest = 1024;
inline constexpr size_t kMaxRequestBytes = 64 * 1024;
// The largest blob the exchange moves: its chaining values travel in one message.
inline constexpr uint64_t kMaxBlobBytes = uint64_t{1} << 40;  // 1 TiB: 32 MiB of CVs
inline constexpr size_t kMaxResponseBytes = (kMaxBlobBytes / kPieceBytes) * 32 + kPieceBytes + 64 * 1024;

// Full 1 MiB pieces of a blob of `size` bytes (the last chunk never belongs to one).
uint64_t full_pieces(uint64_t size);

struct HaveRequest {
  std::vector<Hash> hashes;
};
struct GetRequest {
  Hash hash;
  uint64_t offset = 0;
  uint64_t length = 0;  // 0: the header alone
  bool want_tree = false;
};
struct StoreRequest {
  std::vector<Hash> hashes;
  std::vector<uint64_t> sizes;  // one per hash
  bool wait = false;            // answer once they are durable
  bool pin = false;             // hold them as replicas (pinned)
};
using Request = std::variant<HaveRequest, GetRequest, StoreRequest>;

enum class Code { kOk = 0, kNotFound = 1, kBadRequest = 2, kBusy = 3, kFull = 4, kError = 5 };
std::string_view code_name(Code c);

struct Response {
  Code code = Code::kOk;
  std::string message;
  std::vector<uint64_t> have;  // HAVE: size + 1 per hash, 0 when not held
  std::vector<bool> pinned;    // HAVE: per hash, held as a replica (empty from a peer that does not say)
  bool full = false;           // HAVE: the peer takes no more replicas
  uint64_t size = 0;           // GET
  std::optional<PieceTree> tree;  // GET with want_tree
  std::vector<uint8_t> tail;      // GET with want_tree
  uint64_t offset = 0;            // GET: the raw bytes that follow
  uint64_t length = 0;
  std::vector<bool> stored;  // STORE
};

std::vector<uint8_t> encode_request(const Request& request);
// kInvalidArgument naming the field: a malformed message, a hash that is not 32
// bytes, too many hashes, STORE sizes that do not pair with its hashes.
Result<Request> decode_request(std::span<const uint8_t> bytes);

std::vector<uint8_t> encode_response(const Response& response);
// Checked against what was asked (kProtocol naming the problem): HAVE answers one
// entry per hash; a GET's tree fits its size and its range lies within what was asked
// and inside the blob; STORE answers one flag per hash.
Result<Response> decode_response(std::span<const uint8_t> bytes, const Request& asked);

// Whether [offset, offset + length) lies inside a blob of `size` bytes (an empty range
// at `size` included).
bool range_inside(uint64_t offset, uint64_t length, uint64_t size);

}  // namespace bzzz::exchange
