#include "p2p/net/byte_stream.h"

#include <fmt/format.h>

#include "base/encoding/varint.h"

namespace bzzz::p2p::net {

namespace asio = boost::asio;

asio::awaitable<Status> ByteStream::read_exact(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    auto n = co_await read_some(out.subspan(done));
    if (!n) co_return tl::unexpected(n.error());
    if (*n == 0) {
      co_return make_error(ErrorCode::kProtocol,
                           fmt::format("stream ended after {} of {} bytes", done, out.size()));
    }
    done += *n;
  }
  co_return ok();
}

asio::awaitable<Result<std::optional<std::vector<uint8_t>>>> read_length_prefixed(
    ByteStream& stream, size_t max) {
  // The varint one byte at a time (at most 10), so nothing past it is consumed.
  uint64_t length = 0;
  for (int i = 0;; ++i) {
    uint8_t byte = 0;
    auto n = co_await stream.read_some(std::span<uint8_t>(&byte, 1));
    if (!n) co_return tl::unexpected(n.error());
    if (*n == 0) {
      if (i == 0) co_return std::optional<std::vector<uint8_t>>();
      co_return make_error(ErrorCode::kProtocol, "stream ended inside a length prefix");
    }
    if (i == 9 && byte > 1) co_return make_error(ErrorCode::kProtocol, "length prefix overflows 64 bits");
    length |= uint64_t(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) break;
    if (i == 9) co_return make_error(ErrorCode::kProtocol, "length prefix longer than 10 bytes");
  }
  if (length > max) {
    co_return make_error(ErrorCode::kTooLarge,
                         fmt::format("message of {} bytes is over the limit of {}", length, max));
  }
  std::vector<uint8_t> body(length);
  auto st = co_await stream.read_exact(body);
  if (!st) co_return tl::unexpected(st.error());
  co_return std::optional<std::vector<uint8_t>>(std::move(body));
}

std::vector<uint8_t> length_prefixed(std::span<const uint8_t> body) {
  std::vector<uint8_t> out;
  varint_append(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace bzzz::p2p::net
