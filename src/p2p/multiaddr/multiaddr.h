// p2p/multiaddr: self-describing network addresses (/ip4/1.2.3.4/tcp/9000/p2p/12D3...),
// in text and binary form (a sequence of varint code || value). The protocols a bzzz node
// meets: ip4, ip6, tcp, udp, dns, dns4, dns6, p2p (also spelled ipfs in text). Anything
// else is an error naming the protocol or code. Parsers are pure functions over their
// input.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status/result.h"
#include "p2p/identity/peer_id.h"

namespace bzzz::p2p {

enum class Proto : uint32_t {
  kIp4 = 0x04,
  kTcp = 0x06,
  kDns = 0x35,
  kDns4 = 0x36,
  kDns6 = 0x37,
  kIp6 = 0x29,
  kUdp = 0x0111,
  kP2p = 0x01a5,
};

class Multiaddr {
 public:
  struct Component {
    Proto proto;
    std::vector<uint8_t> value;  // binary form of the value (no length prefix)
    bool operator==(const Component&) const = default;
  };

  static Result<Multiaddr> parse(std::string_view text);
  static Result<Multiaddr> from_bytes(std::span<const uint8_t> bytes);

  std::string to_string() const;
  std::vector<uint8_t> to_bytes() const;
  const std::vector<Component>& components() const { return components_; }
  bool empty() const { return components_.empty(); }

  // The /p2p/ peer id, if the address ends with one.
  std::optional<PeerId> peer_id() const;
  // The address without a trailing /p2p/ component.
  Multiaddr without_peer_id() const;
  Multiaddr with_peer_id(const PeerId& id) const;
  // host and port of a /ip4|ip6|dns*/.../tcp/N address; nullopt otherwise.
  struct TcpEndpoint {
    std::string host;
    uint16_t port;
    bool needs_resolving;  // dns, dns4, dns6
  };
  std::optional<TcpEndpoint> tcp_endpoint() const;

  bool operator==(const Multiaddr&) const = default;

 private:
  std::vector<Component> components_;
};

}  // namespace bzzz::p2p
