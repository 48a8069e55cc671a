// p2p/net: multistream-select 1.0 negotiation over a ByteStream, both roles (the wire
// format is p2p/multistream/codec.h). Used three times per connection: /noise on the
// raw socket, /yamux/1.0.0 inside Noise, and an application protocol on every stream.
//
// The dialer writes the header and its first proposal in one write and does not wait
// for the listener's header first (js listeners say nothing until they have read ours).
// The listener reads the dialer's header before it writes its own. Bytes read past the
// final answer belong to the selected protocol and are unread() back onto the stream.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "base/status/result.h"
#include "p2p/net/byte_stream.h"

namespace bzzz::p2p::net {

// Proposes `protocols` in order; returns the first the listener accepts. Every one
// refused is kNotFound naming them; a malformed answer is kProtocol.
boost::asio::awaitable<Result<std::string>> mss_select(ByteStream& stream,
                                                       const std::vector<std::string>& protocols);

struct MssServer {
  std::function<bool(std::string_view)> supports;
  std::function<std::vector<std::string>()> list;  // the answer to "ls"
};
// Answers proposals until one is supported (echoed back) and returns it; "ls" is
// answered, anything else gets "na". A dialer that gives up (EOF) or proposes more than
// kMaxProposals times is an error.
inline constexpr int kMaxProposals = 32;
boost::asio::awaitable<Result<std::string>> mss_handle(ByteStream& stream, const MssServer& server);

}  // namespace bzzz::p2p::net
