#include "p2p/dht/messages.h"

#include <ctime>

#include <fmt/format.h>

#include "p2p/proto/dht.pb.h"

namespace bzzz::p2p::dht {

namespace {

using pb::DhtMessage;

void put_peer(DhtMessage::Peer* out, const PeerInfo& in) {
  const auto& id = in.id.bytes();
  out->set_id(id.data(), id.size());
  for (const auto& a : in.addrs) {
    auto b = a.to_bytes();
    out->add_addrs(b.data(), b.size());
  }
  out->set_connection(in.connected ? DhtMessage::CONNECTED : DhtMessage::NOT_CONNECTED);
}

std::span<const uint8_t> span_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void take_peers(const google::protobuf::RepeatedPtrField<DhtMessage::Peer>& in, std::vector<PeerInfo>& out,
                size_t& skipped) {
  for (const auto& p : in) {
    auto id = PeerId::from_bytes(span_of(p.id()));
    if (!id) {
      ++skipped;
      continue;
    }
    PeerInfo info{std::move(*id), {}, p.connection() == DhtMessage::CONNECTED};
    for (const auto& a : p.addrs()) {
      auto addr = Multiaddr::from_bytes(span_of(a));
      if (addr) info.addrs.push_back(addr->without_peer_id());
    }
    out.push_back(std::move(info));
  }
}

}  // namespace

bool is_known(MessageType type) {
  auto t = static_cast<int32_t>(type);
  return t >= 0 && t <= 5;
}

std::string_view type_name(MessageType type) {
  switch (type) {
    case MessageType::kPutValue: return "PUT_VALUE";
    case MessageType::kGetValue: return "GET_VALUE";
    case MessageType::kAddProvider: return "ADD_PROVIDER";
    case MessageType::kGetProviders: return "GET_PROVIDERS";
    case MessageType::kFindNode: return "FIND_NODE";
    case MessageType::kPing: return "PING";
  }
  return "UNKNOWN";
}

Bytes encode(const Message& m) {
  DhtMessage pb;
  pb.set_type(static_cast<DhtMessage::MessageType>(m.type));
  if (!m.key.empty()) pb.set_key(m.key.data(), m.key.size());
  if (m.record) {
    auto* r = pb.mutable_record();
    r->set_key(m.record->key.data(), m.record->key.size());
    r->set_value(m.record->value.data(), m.record->value.size());
    if (!m.record->time_received.empty()) r->set_timereceived(m.record->time_received);
  }
  for (const auto& p : m.closer) put_peer(pb.add_closerpeers(), p);
  for (const auto& p : m.providers) put_peer(pb.add_providerpeers(), p);
  std::string s = pb.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

Result<Message> decode(std::span<const uint8_t> bytes) {
  DhtMessage pb;
  if (!pb.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return make_error(ErrorCode::kProtocol, fmt::format("dht: {} bytes that are not a kad-dht Message", bytes.size()));
  }
  Message m;
  m.type = static_cast<MessageType>(pb.type());
  m.key.assign(pb.key().begin(), pb.key().end());
  if (pb.has_record()) {
    const auto& r = pb.record();
    m.record = Record{Bytes(r.key().begin(), r.key().end()), Bytes(r.value().begin(), r.value().end()),
                      r.timereceived()};
  }
  take_peers(pb.closerpeers(), m.closer, m.skipped_peers);
  take_peers(pb.providerpeers(), m.providers, m.skipped_peers);
  return m;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

}  // namespace bzzz::p2p::dht
