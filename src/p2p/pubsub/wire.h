// p2p/pubsub: the gossipsub wire format as pure functions over bytes: decoding an RPC,
// checking a message under StrictSign (a publisher id, an 8-byte seqno, the key, the
// signature over "libp2p-pubsub:" || the message's fields 1-4), signing our own, and
// message ids. No state, no I/O: the fuzzable edge of the router.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status/result.h"
#include "p2p/identity/keys.h"
#include "p2p/identity/peer_id.h"
#include "p2p/proto/pubsub.pb.h"

namespace bzzz::p2p::pubsub {

// An RPC from its protobuf bytes (without the length prefix). Malformed bytes are
// kProtocol errors.
Result<pb::RPC> decode_rpc(std::span<const uint8_t> bytes);
std::vector<uint8_t> encode_rpc(const pb::RPC& rpc);  // with its uvarint length prefix

// A received message that passed the StrictSign checks.
struct CheckedMessage {
  PeerId from;
  uint64_t seqno = 0;
  std::string id;
};
// Why a message fails: a short label for metrics (bad_from, bad_seqno, no_signature,
// bad_key, key_mismatch, bad_signature, no_topic) in the error's message, then ": "
// and the detail.
Result<CheckedMessage> check_message(const pb::Message& msg);
// The label part of a check_message error ("bad_seqno").
std::string reason_label(const Error& error);

// Our own message, signed with `key`: from, data, an 8-byte big-endian seqno, topic,
// signature, key.
pb::Message sign_message(const PrivateKey& key, std::string topic, std::span<const uint8_t> data,
                         uint64_t seqno);

// The spec's default message id (go's too, and ours): the publisher's id bytes followed
// by the seqno bytes.
std::string message_id(const PeerId& from, uint64_t seqno);

// js-libp2p names a message by its publisher's PublicKey protobuf followed by the
// seqno instead. Ids only travel in IHAVE/IWANT, but a peer that asks for an id and
// gets a message it names otherwise counts a broken promise against us, so each peer
// gets ids in its own form. canonical_id() maps either form to ours (a js id starts
// with the protobuf's 0x08 tag, ours with a multihash code); js_message_id() maps ours
// to js's, using the message's key when the id is a hashed one.
std::string canonical_id(const std::string& id);
std::string js_message_id(const std::string& canonical, const pb::Message& msg);

std::span<const uint8_t> as_bytes(const std::string& s);

}  // namespace bzzz::p2p::pubsub
