// p2p/net: a reliable, ordered byte stream as the protocols above see it: a raw TCP
// socket before Noise, the Noise channel before yamux, or a yamux stream. Coroutines on
// the stream's executor; one reader and one writer at a time.
//
// Bytes a negotiation read past its end (multistream-select's trailing bytes) are put
// back with unread() and come out of the next read_some() first.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "base/status/result.h"

namespace bzzz::p2p::net {

class ByteStream {
 public:
  virtual ~ByteStream() = default;

  // Up to out.size() bytes; 0 at the end of the stream (the remote closed its side).
  boost::asio::awaitable<Result<size_t>> read_some(std::span<uint8_t> out) {
    if (!pushback_.empty()) co_return take_pushback(out);
    co_return co_await do_read_some(out);
  }
  // Exactly out.size() bytes, or an error (a premature end is kProtocol).
  boost::asio::awaitable<Status> read_exact(std::span<uint8_t> out);
  // Every byte, or an error.
  virtual boost::asio::awaitable<Status> write(std::span<const uint8_t> data) = 0;

  void unread(std::span<const uint8_t> bytes) {
    pushback_.insert(pushback_.begin(), bytes.begin(), bytes.end());
  }
  bool has_pushback() const { return !pushback_.empty(); }
  std::vector<uint8_t> take_pushback() { return std::exchange(pushback_, {}); }

 protected:
  virtual boost::asio::awaitable<Result<size_t>> do_read_some(std::span<uint8_t> out) = 0;

 private:
  size_t take_pushback(std::span<uint8_t> out) {
    size_t n = std::min(out.size(), pushback_.size());
    std::memcpy(out.data(), pushback_.data(), n);
    pushback_.erase(pushback_.begin(), pushback_.begin() + static_cast<ptrdiff_t>(n));
    return n;
  }
  std::vector<uint8_t> pushback_;
};

// Reads one uvarint-length-prefixed message (identify, and later pubsub and the DHT)
// of at most `max` bytes; nullopt at a clean end of stream before the first byte.
boost::asio::awaitable<Result<std::optional<std::vector<uint8_t>>>> read_length_prefixed(
    ByteStream& stream, size_t max);
std::vector<uint8_t> length_prefixed(std::span<const uint8_t> body);

}  // namespace bzzz::p2p::net
