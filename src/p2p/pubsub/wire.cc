#include "p2p/pubsub/wire.h"

#include <fmt/format.h>

#include "base/encoding/varint.h"

namespace bzzz::p2p::pubsub {
namespace {

constexpr std::string_view kSignPrefix = "libp2p-pubsub:";

tl::unexpected<Error> fail(std::string_view label, std::string detail) {
  return make_error(ErrorCode::kProtocol, fmt::format("{}: {}", label, detail));
}

// What the signature covers: the message with only fields 1-4, serialized the way
// every implementation re-encodes it (fields in number order).
std::string signed_bytes(const pb::Message& msg) {
  pb::Message copy;
  if (msg.has_from()) copy.set_from(msg.from());
  if (msg.has_data()) copy.set_data(msg.data());
  if (msg.has_seqno()) copy.set_seqno(msg.seqno());
  if (msg.has_topic()) copy.set_topic(msg.topic());
  std::string out(kSignPrefix);
  out += copy.SerializeAsString();
  return out;
}

}  // namespace

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Result<pb::RPC> decode_rpc(std::span<const uint8_t> bytes) {
  pb::RPC rpc;
  if (!rpc.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return make_error(ErrorCode::kProtocol, fmt::format("pubsub: {} bytes are not an RPC message", bytes.size()));
  }
  return rpc;
}

std::vector<uint8_t> encode_rpc(const pb::RPC& rpc) {
  std::string body = rpc.SerializeAsString();
  std::vector<uint8_t> out;
  out.reserve(body.size() + kMaxVarintBytes);
  varint_append(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Result<CheckedMessage> check_message(const pb::Message& msg) {
  if (!msg.has_topic() || msg.topic().empty()) return fail("no_topic", "a message without a topic");
  if (!msg.has_from()) return fail("bad_from", "a message without a publisher (from)");
  auto from = PeerId::from_bytes(as_bytes(msg.from()));
  if (!from) return fail("bad_from", from.error().message());
  if (!msg.has_seqno() || msg.seqno().size() != 8) {
    return fail("bad_seqno", fmt::format("seqno of {} bytes (StrictSign wants 8)", msg.has_seqno() ? msg.seqno().size() : 0));
  }
  if (!msg.has_signature() || msg.signature().empty()) return fail("no_signature", "an unsigned message");
  PublicKey key;
  if (msg.has_key()) {
    auto decoded = PublicKey::decode(as_bytes(msg.key()));
    if (!decoded) return fail("bad_key", decoded.error().message());
    if (!from->matches(*decoded)) return fail("key_mismatch", "the key is not the publisher's");
    key = std::move(*decoded);
  } else {
    auto embedded = from->public_key();
    if (!embedded) return fail("bad_key", "no key, and the publisher id does not embed one");
    key = std::move(*embedded);
  }
  std::string covered = signed_bytes(msg);
  if (!key.verify(as_bytes(covered), as_bytes(msg.signature()))) {
    return fail("bad_signature", fmt::format("signature does not verify for {}", from->to_string()));
  }
  uint64_t seqno = 0;
  for (unsigned char c : msg.seqno()) seqno = (seqno << 8) | c;
  CheckedMessage out;
  out.id = msg.from() + msg.seqno();
  out.from = std::move(*from);
  out.seqno = seqno;
  return out;
}

std::string reason_label(const Error& error) {
  const std::string& m = error.message();
  auto colon = m.find(':');
  return colon == std::string::npos ? m : m.substr(0, colon);
}

pb::Message sign_message(const PrivateKey& key, std::string topic, std::span<const uint8_t> data, uint64_t seqno) {
  pb::Message msg;
  auto from = PeerId::from_public_key(key.public_key());
  msg.set_from(from.bytes().data(), from.bytes().size());
  msg.set_data(data.data(), data.size());
  std::array<uint8_t, 8> seq{};
  for (int i = 7; i >= 0; --i, seqno >>= 8) seq[static_cast<size_t>(i)] = static_cast<uint8_t>(seqno & 0xff);
  msg.set_seqno(seq.data(), seq.size());
  msg.set_topic(std::move(topic));
  auto sig = key.sign(as_bytes(signed_bytes(msg)));
  msg.set_signature(sig.data(), sig.size());
  auto pub = key.public_key().encode();
  msg.set_key(pub.data(), pub.size());
  return msg;
}

std::string message_id(const PeerId& from, uint64_t seqno) {
  std::string id(from.bytes().begin(), from.bytes().end());
  for (int shift = 56; shift >= 0; shift -= 8) id.push_back(static_cast<char>((seqno >> shift) & 0xff));
  return id;
}

std::string canonical_id(const std::string& id) {
  if (id.size() <= 8 || static_cast<uint8_t>(id[0]) != 0x08) return id;
  auto key = PublicKey::decode(as_bytes(id).first(id.size() - 8));
  if (!key) return id;
  auto from = PeerId::from_public_key(*key);
  return std::string(from.bytes().begin(), from.bytes().end()) + id.substr(id.size() - 8);
}

std::string js_message_id(const std::string& canonical, const pb::Message& msg) {
  if (canonical.size() <= 8) return canonical;
  std::string seqno = canonical.substr(canonical.size() - 8);
  if (msg.has_key() && !msg.key().empty()) return msg.key() + seqno;
  // An identity multihash (0x00, length) embeds the key protobuf.
  if (static_cast<uint8_t>(canonical[0]) == 0x00 && canonical.size() > 10) return canonical.substr(2, canonical.size() - 10) + seqno;
  return canonical;
}

}  // namespace bzzz::p2p::pubsub
