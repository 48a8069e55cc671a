#include "p2p/host/identify.h"

#include <fmt/format.h>

#include "p2p/proto/identify.pb.h"

namespace bzzz::p2p::identify {

std::vector<uint8_t> encode(const Info& info) {
  pb::Identify msg;
  auto key = info.public_key.encode();
  msg.set_publickey(key.data(), key.size());
  for (const auto& a : info.listen_addrs) {
    auto bytes = a.to_bytes();
    msg.add_listenaddrs(bytes.data(), bytes.size());
  }
  for (const auto& p : info.protocols) msg.add_protocols(p);
  if (info.observed_addr) {
    auto bytes = info.observed_addr->to_bytes();
    msg.set_observedaddr(bytes.data(), bytes.size());
  }
  msg.set_protocolversion(info.protocol_version);
  msg.set_agentversion(info.agent_version);
  std::string out = msg.SerializeAsString();
  return std::vector<uint8_t>(out.begin(), out.end());
}

Result<Info> decode(std::span<const uint8_t> bytes) {
  pb::Identify msg;
  if (!msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return make_error(ErrorCode::kProtocol, fmt::format("identify: {} bytes are not an Identify message", bytes.size()));
  }
  Info info;
  if (msg.has_publickey()) {
    const auto& k = msg.publickey();
    auto key = PublicKey::decode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(k.data()), k.size()));
    if (!key) return make_error(ErrorCode::kProtocol, fmt::format("identify: public key: {}", key.error().message()));
    info.public_key = std::move(*key);
  }
  for (const auto& a : msg.listenaddrs()) {
    auto addr = Multiaddr::from_bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), a.size()));
    if (addr) info.listen_addrs.push_back(std::move(*addr));
  }
  for (const auto& p : msg.protocols()) info.protocols.push_back(p);
  if (msg.has_observedaddr()) {
    const auto& o = msg.observedaddr();
    auto addr = Multiaddr::from_bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(o.data()), o.size()));
    if (addr) info.observed_addr = std::move(*addr);
  }
  info.protocol_version = msg.protocolversion();
  info.agent_version = msg.agentversion();
  return info;
}

void merge(Info& into, Info&& more) {
  if (!more.public_key.data.empty()) into.public_key = std::move(more.public_key);
  for (auto& a : more.listen_addrs) into.listen_addrs.push_back(std::move(a));
  for (auto& p : more.protocols) into.protocols.push_back(std::move(p));
  if (more.observed_addr) into.observed_addr = std::move(more.observed_addr);
  if (!more.protocol_version.empty()) into.protocol_version = std::move(more.protocol_version);
  if (!more.agent_version.empty()) into.agent_version = std::move(more.agent_version);
}

}  // namespace bzzz::p2p::identify
