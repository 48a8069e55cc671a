// p2p/net: turning a TCP socket into a libp2p connection. multistream-select picks
// /noise, the Noise XX handshake authenticates the remote's peer id (checked against
// the one dialed, when known), multistream-select inside Noise picks /yamux/1.0.0,
// and a Connection takes the socket over. We send no Noise muxer extension and ignore
// the remote's, so the second negotiation always runs (js falls back to it).
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/status/result.h"
#include "p2p/identity/keys.h"
#include "p2p/identity/peer_id.h"
#include "p2p/net/connection.h"

namespace bzzz::p2p::net {

struct UpgradeOptions {
  const PrivateKey* identity = nullptr;
  std::chrono::milliseconds timeout{10'000};  // the whole upgrade
  ConnectionOptions connection;
};

// Runs on the socket's executor (make it a strand: the connection lives there).
// `expected` is the peer id a dialer asked for; inbound upgrades pass nullopt. Errors
// name the step that failed; on a timeout the socket is closed and the error is
// kTimeout.
boost::asio::awaitable<Result<std::shared_ptr<Connection>>> upgrade(
    boost::asio::ip::tcp::socket socket, bool outbound, std::optional<PeerId> expected,
    const UpgradeOptions& options);

}  // namespace bzzz::p2p::net
