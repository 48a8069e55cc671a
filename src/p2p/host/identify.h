// p2p/host: the identify protocol (/ipfs/id/1.0.0): the message a peer sends about
// itself, as pure functions over bytes. The responder writes one uvarint-length-
// prefixed Identify protobuf and closes its write side; /ipfs/id/push/1.0.0 is not
// served (a clean "na").
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status/result.h"
#include "p2p/identity/keys.h"
#include "p2p/multiaddr/multiaddr.h"

namespace bzzz::p2p::identify {

inline constexpr std::string_view kProtocolId = "/ipfs/id/1.0.0";
inline constexpr std::string_view kProtocolVersion = "ipfs/0.1.0";
inline constexpr size_t kMaxMessage = 8 * 1024;  // what js accepts

struct Info {
  PublicKey public_key;
  std::vector<Multiaddr> listen_addrs;
  std::vector<std::string> protocols;
  std::optional<Multiaddr> observed_addr;
  std::string protocol_version = std::string(kProtocolVersion);
  std::string agent_version;
};

std::vector<uint8_t> encode(const Info& info);
// Errors (kProtocol) name what is malformed. Addresses we cannot parse (a transport we
// do not speak, such as /quic-v1) are skipped, not errors.
Result<Info> decode(std::span<const uint8_t> bytes);
// js and go may split the answer over several messages: later fields add to earlier.
void merge(Info& into, Info&& more);

}  // namespace bzzz::p2p::identify
