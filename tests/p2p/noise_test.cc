// The Noise XX handshake: published vectors, a libp2p handshake between two peers,
// tampering and misuse, the AEAD nonce layout, and transport framing.
#include "p2p/noise/noise.h"

#include <sodium.h>

#include <cstring>
#include <limits>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/encoding/hex.h"

namespace bzzz::p2p::noise {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> unhex(std::string_view h) {
  auto bytes = hex_decode(h);
  EXPECT_TRUE(bytes) << h;
  return bytes ? *bytes : std::vector<uint8_t>{};
}

Key key_from_hex(std::string_view h) {
  auto bytes = unhex(h);
  Key key{};
  EXPECT_EQ(bytes.size(), key.size()) << h;
  std::memcpy(key.data(), bytes.data(), std::min(bytes.size(), key.size()));
  return key;
}

std::vector<uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

// --- published vectors ----------------------------------------------------------------

// One Noise_XX_25519_ChaChaPoly_SHA256 case of the cacophony/snow vector format. Messages
// alternate initiator, responder, initiator, ...: the first three are the handshake, the
// rest transport messages under the Split() keys. Both sides use the same prologue.
struct Vector {
  std::string_view prologue;
  std::string_view init_static;
  std::string_view init_ephemeral;
  std::string_view resp_static;
  std::string_view resp_ephemeral;
  std::string_view handshake_hash;  // empty when the file gives none
  std::vector<std::pair<std::string_view, std::string_view>> messages;  // {payload, ciphertext}
};

// Source: haskell-cryptography/cacophony vectors/cacophony.txt at 8ee9d41e (the same case is
// in mcginty/snow tests/vectors/cacophony.txt). Prologue "John Galt", payloads in ASCII.
const Vector kCacophonyXX = {
    .prologue = "4a6f686e2047616c74",
    .init_static = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
    .init_ephemeral = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
    .resp_static = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
    .resp_ephemeral = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
    .handshake_hash = "c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e",
    .messages =
        {
            {"4c756477696720766f6e204d69736573",
             "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477"
             "696720766f6e204d69736573"},
            {"4d757272617920526f746862617264",
             "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f"
             "276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b9bd5269c2f1e4f488"
             "ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f8814c7194e83f23dbd8d162c"
             "9326ad"},
            {"462e20412e20486179656b",
             "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475b9"
             "df0f169ae80a89be0865b57f58c9fea0d4ec82a286427402f113e4b6ae769a1d95941d49"
             "b25030"},
            {"4361726c204d656e676572",
             "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"},
            {"4a65616e2d426170746973746520536179",
             "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5"},
            {"457567656e2042f6686d20766f6e2042617765726b",
             "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae"
             "3f"},
        },
};

// Source: mcginty/snow tests/vectors/snow.txt at 8ac60f51 (no handshake hash given there).
const Vector kSnowXX = {
    .prologue = "5468657265206973206e6f20726967687420616e642077726f6e672e2054686572652773"
        "206f6e6c792066756e20616e6420626f72696e672e",
    .init_static = "7dec208517a3b81a2861d7a71266d5d6dc944c5a8816634a86fe63198a0148ee",
    .init_ephemeral = "a32daf21e93c0131495ce1d903181fde81cc46937daaeb990bae7c992709421e",
    .resp_static = "4d0aed5098e3b4ef20357e9f686ce66204c792b358da2e475017d6c485304881",
    .resp_ephemeral = "4eece0f195d026db035ff987597c429d3ad3bcc2944df37d649528951b2a27c5",
    .handshake_hash = "",
    .messages =
        {
            {"d03c489139e645d0711a3c9e810d776b46a84912463fafa87b884eebf242dc34",
             "f9fa868ba97ab8a2686deccfaad5a484ee10a5bb85e3d1dce015a84797f92818d03c4891"
             "39e645d0711a3c9e810d776b46a84912463fafa87b884eebf242dc34"},
            {"d8190a92f7dc0c93dbea9118ba8055751fb7c6590c416ffbd419964132b99a85",
             "8c4e6fdb7d09d501a86f7eca5c234522751706ed409182c05cdf5f827d4dae47b81c6c5f"
             "43b025692c24391eefee725c17d8cb0fbe3e4abb8aedf42c4fd2592d4ea48ac08989d6ae"
             "8b4adae08b2c34087c808c7aa55a63c02b0fab9e930612336bd43eaea04d3c670a0a1466"
             "91aa9cc9d357872320dc735dbc48580cffb553db"},
            {"77891b19dcb92ef7c055b672c4a5aa7fdf1c84146b8b303459022729473ce254",
             "933ca6b5ed60df3df66121f0ab49a09e49efa45c613a86a3cecbf4c535cef2f83f72b428"
             "37b18e3572f2fdc2b74c331e2368a545cef54bdca081678ab0e9dd5348122459e0c034c8"
             "51984d88ce610963d43cde6cfe73a67fbd5a63e8bfca96d0"},
            {"d7efdf988072881941db045a42882433817555128fbf5663e56081712ec7d212",
             "54ef0ff0629e1aaa7685a2806ab111cba76b52331f2642276736f415868eacb69ab2577f"
             "3bda0cbf72f879685f6ed25f"},
            {"dd7bf01a588bafb52c6cfba952e5d8fe35cc2b3f92b4730ae2474615157345ce",
             "356be70f110306d5c699bb834bb9d58d909e325924dfbec972e406e6f294dc63e1daebef"
             "e8a62a334facc8048ab4ad66"},
        },
};

void run_vector(const Vector& v) {
  auto prologue = unhex(v.prologue);
  KeyPair init_s = KeyPair::from_private(key_from_hex(v.init_static));
  KeyPair init_e = KeyPair::from_private(key_from_hex(v.init_ephemeral));
  KeyPair resp_s = KeyPair::from_private(key_from_hex(v.resp_static));
  KeyPair resp_e = KeyPair::from_private(key_from_hex(v.resp_ephemeral));
  Handshake initiator(Role::kInitiator, init_s, prologue, init_e);
  Handshake responder(Role::kResponder, resp_s, prologue, resp_e);
  ASSERT_GE(v.messages.size(), 3u);

  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(::testing::Message() << "handshake message " << i + 1);
    Handshake& sender = i % 2 == 0 ? initiator : responder;
    Handshake& receiver = i % 2 == 0 ? responder : initiator;
    EXPECT_TRUE(sender.my_turn());
    EXPECT_FALSE(receiver.my_turn());
    auto message = sender.write_message(unhex(v.messages[i].first));
    ASSERT_TRUE(message) << message.error().message();
    EXPECT_EQ(hex_encode(*message), v.messages[i].second);
    auto payload = receiver.read_message(*message);
    ASSERT_TRUE(payload) << payload.error().message();
    EXPECT_EQ(hex_encode(*payload), v.messages[i].first);
  }
  ASSERT_TRUE(initiator.complete());
  ASSERT_TRUE(responder.complete());
  EXPECT_FALSE(initiator.my_turn());
  EXPECT_FALSE(responder.my_turn());
  EXPECT_EQ(initiator.remote_static(), resp_s.public_key);
  EXPECT_EQ(responder.remote_static(), init_s.public_key);
  EXPECT_EQ(initiator.remote_ephemeral(), resp_e.public_key);
  EXPECT_EQ(responder.remote_ephemeral(), init_e.public_key);
  EXPECT_EQ(initiator.handshake_hash(), responder.handshake_hash());
  if (!v.handshake_hash.empty()) {
    EXPECT_EQ(hex_encode(initiator.handshake_hash()), v.handshake_hash);
  }

  auto [init_send, init_recv] = initiator.split();
  auto [resp_send, resp_recv] = responder.split();
  for (size_t i = 3; i < v.messages.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "transport message " << i + 1);
    bool from_initiator = i % 2 == 0;
    CipherState& send = from_initiator ? init_send : resp_send;
    CipherState& recv = from_initiator ? resp_recv : init_recv;
    auto ciphertext = send.encrypt({}, unhex(v.messages[i].first));
    ASSERT_TRUE(ciphertext) << ciphertext.error().message();
    EXPECT_EQ(hex_encode(*ciphertext), v.messages[i].second);
    auto plaintext = recv.decrypt({}, *ciphertext);
    ASSERT_TRUE(plaintext) << plaintext.error().message();
    EXPECT_EQ(hex_encode(*plaintext), v.messages[i].first);
  }
}

TEST(NoiseVectorTest, CacophonyXX) { run_vector(kCacophonyXX); }
TEST(NoiseVectorTest, SnowXX) { run_vector(kSnowXX); }

// The responder's side read from the vector alone: it decrypts the initiator's recorded
// messages (so reading does not depend on our own writer) and writes the recorded reply.
TEST(NoiseVectorTest, ResponderReadsRecordedMessages) {
  const Vector& v = kCacophonyXX;
  Handshake responder(Role::kResponder, KeyPair::from_private(key_from_hex(v.resp_static)),
                      unhex(v.prologue), KeyPair::from_private(key_from_hex(v.resp_ephemeral)));
  auto p1 = responder.read_message(unhex(v.messages[0].second));
  ASSERT_TRUE(p1) << p1.error().message();
  EXPECT_EQ(hex_encode(*p1), v.messages[0].first);
  auto m2 = responder.write_message(unhex(v.messages[1].first));
  ASSERT_TRUE(m2) << m2.error().message();
  EXPECT_EQ(hex_encode(*m2), v.messages[1].second);
  auto p3 = responder.read_message(unhex(v.messages[2].second));
  ASSERT_TRUE(p3) << p3.error().message();
  EXPECT_EQ(hex_encode(*p3), v.messages[2].first);
  EXPECT_EQ(hex_encode(responder.handshake_hash()), v.handshake_hash);
  auto [send, recv] = responder.split();
  auto t4 = send.encrypt({}, unhex(v.messages[3].first));  // the responder sends message 4
  ASSERT_TRUE(t4);
  EXPECT_EQ(hex_encode(*t4), v.messages[3].second);
  auto t5 = recv.decrypt({}, unhex(v.messages[4].second));
  ASSERT_TRUE(t5) << t5.error().message();
  EXPECT_EQ(hex_encode(*t5), v.messages[4].first);
}

// RFC 7748 section 6.1: Alice's and Bob's X25519 keys and their shared secret.
TEST(NoiseKeyTest, X25519MatchesRfc7748) {
  auto alice = KeyPair::from_private(
      key_from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  auto bob = KeyPair::from_private(
      key_from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  EXPECT_EQ(hex_encode(alice.public_key),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(hex_encode(bob.public_key),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto a = KeyPair::generate(), b = KeyPair::generate();
  EXPECT_NE(a.private_key, b.private_key);
  EXPECT_EQ(KeyPair::from_private(a.private_key).public_key, a.public_key);
}

// --- a libp2p handshake -------------------------------------------------------------

// A libp2p peer: its Ed25519 identity and its Noise static key.
struct Peer {
  PrivateKey identity = PrivateKey::generate();
  KeyPair noise = KeyPair::generate();
  PeerId id() const { return PeerId::from_public_key(identity.public_key()); }
  std::vector<uint8_t> payload() const {
    return encode_payload(make_payload(identity, noise.public_key));
  }
};

// Runs messages 1 and 2 (the initiator has not read message 2 yet).
struct HalfDone {
  Handshake initiator;
  Handshake responder;
  std::vector<uint8_t> m2;
};
HalfDone up_to_message_2(const Peer& dialer, const Peer& listener,
                         const std::vector<uint8_t>& m2_payload) {
  HalfDone s{Handshake(Role::kInitiator, dialer.noise), Handshake(Role::kResponder, listener.noise),
             {}};
  auto m1 = s.initiator.write_message({});
  EXPECT_TRUE(m1);
  EXPECT_EQ(m1->size(), kKeySize);  // libp2p: message 1 is the bare ephemeral key
  auto p1 = s.responder.read_message(*m1);
  EXPECT_TRUE(p1);
  EXPECT_TRUE(p1->empty());
  auto m2 = s.responder.write_message(m2_payload);
  EXPECT_TRUE(m2);
  s.m2 = *m2;
  return s;
}

TEST(NoiseLibp2pTest, FullHandshakeVerifiesBothPeersAndCarriesTraffic) {
  Peer dialer, listener;
  auto s = up_to_message_2(dialer, listener, listener.payload());
  auto bob_payload = listener.payload();
  EXPECT_EQ(s.m2.size(), kKeySize + kKeySize + kTagSize + bob_payload.size() + kTagSize);

  // The dialer learns and checks the listener's identity against the id it dialed.
  auto p2 = s.initiator.read_message(s.m2);
  ASSERT_TRUE(p2) << p2.error().message();
  EXPECT_EQ(*p2, bob_payload);
  EXPECT_EQ(s.initiator.remote_static(), listener.noise.public_key);
  auto decoded2 = decode_payload(*p2);
  ASSERT_TRUE(decoded2) << decoded2.error().message();
  EXPECT_TRUE(decoded2->stream_muxers.empty());
  auto remote = verify_payload(*decoded2, s.initiator.remote_static(), listener.id());
  ASSERT_TRUE(remote) << remote.error().message();
  EXPECT_EQ(remote->first, listener.id());
  EXPECT_EQ(remote->second, listener.identity.public_key());

  // The listener learns who dialed it (nothing to compare against).
  auto m3 = s.initiator.write_message(dialer.payload());
  ASSERT_TRUE(m3) << m3.error().message();
  auto p3 = s.responder.read_message(*m3);
  ASSERT_TRUE(p3) << p3.error().message();
  auto decoded3 = decode_payload(*p3);
  ASSERT_TRUE(decoded3) << decoded3.error().message();
  auto dialer_seen = verify_payload(*decoded3, s.responder.remote_static(), std::nullopt);
  ASSERT_TRUE(dialer_seen) << dialer_seen.error().message();
  EXPECT_EQ(dialer_seen->first, dialer.id());
  EXPECT_EQ(dialer_seen->second, dialer.identity.public_key());

  ASSERT_TRUE(s.initiator.complete() && s.responder.complete());
  EXPECT_EQ(s.initiator.handshake_hash(), s.responder.handshake_hash());
  auto [a_send, a_recv] = s.initiator.split();
  auto [b_send, b_recv] = s.responder.split();
  for (int i = 0; i < 5; ++i) {
    auto ping = bytes_of("ping " + std::to_string(i));
    auto c = a_send.encrypt({}, ping);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->size(), ping.size() + kTagSize);
    EXPECT_FALSE(std::equal(ping.begin(), ping.end(), c->begin()));
    auto d = b_recv.decrypt({}, *c);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(*d, ping);
    auto pong = bytes_of("pong " + std::to_string(i));
    auto c2 = b_send.encrypt({}, pong);
    ASSERT_TRUE(c2);
    auto d2 = a_recv.decrypt({}, *c2);
    ASSERT_TRUE(d2) << d2.error().message();
    EXPECT_EQ(*d2, pong);
  }
  EXPECT_EQ(a_send.nonce(), 5u);
  EXPECT_EQ(b_recv.nonce(), 5u);
  // The two directions use different keys: a message cannot be reflected back.
  auto c = a_send.encrypt({}, bytes_of("hello"));
  ASSERT_TRUE(c);
  CipherState a_recv_copy = a_recv;
  a_recv_copy.set_nonce(a_send.nonce() - 1);
  EXPECT_FALSE(a_recv_copy.decrypt({}, *c));
}

// A stream of transport frames: plaintext in kMaxPlaintext chunks, each sealed in place
// behind its u16be header, read back frame by frame from pieces of arbitrary size.
TEST(NoiseLibp2pTest, FramedTransportInPlace) {
  Key key{};
  randombytes_buf(key.data(), key.size());
  CipherState send(key), recv(key);
  std::vector<uint8_t> data(3 * kMaxPlaintext + 1234);
  randombytes_buf(data.data(), data.size());

  std::vector<uint8_t> wire;
  for (size_t at = 0; at < data.size(); at += kMaxPlaintext) {
    size_t n = std::min(kMaxPlaintext, data.size() - at);
    append_frame_header(wire, static_cast<uint16_t>(n + kTagSize));
    size_t body = wire.size();
    wire.insert(wire.end(), data.begin() + static_cast<ptrdiff_t>(at),
                data.begin() + static_cast<ptrdiff_t>(at + n));
    wire.resize(wire.size() + kTagSize);
    ASSERT_TRUE(send.encrypt_in_place({}, wire.data() + body, n));
  }
  EXPECT_EQ(wire.size(), data.size() + 4 * (2 + kTagSize));

  std::vector<uint8_t> received, pending;
  size_t fed = 0, piece = 1;
  while (fed < wire.size()) {
    size_t n = std::min(piece, wire.size() - fed);
    pending.insert(pending.end(), wire.begin() + static_cast<ptrdiff_t>(fed),
                   wire.begin() + static_cast<ptrdiff_t>(fed + n));
    fed += n;
    piece = piece * 3 + 7;  // 1, 10, 37, ... bytes: headers and bodies split every way
    std::span<const uint8_t> in = pending;
    while (auto frame = take_frame(in)) {
      auto plain = recv.decrypt({}, *frame);
      ASSERT_TRUE(plain) << plain.error().message();
      received.insert(received.end(), plain->begin(), plain->end());
    }
    pending.erase(pending.begin(), pending.end() - static_cast<ptrdiff_t>(in.size()));
  }
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(received, data);
  EXPECT_EQ(recv.nonce(), 4u);
}

// --- tampering ----------------------------------------------------------------------

TEST(NoiseNegativeTest, TamperedMessage2FailsAuthentication) {
  Peer dialer, listener;
  auto payload = listener.payload();
  // Flip one bit in: the ephemeral key, the encrypted static key, its tag, the payload,
  // and the payload's tag.
  size_t m2_size = 2 * kKeySize + 2 * kTagSize + payload.size();
  for (size_t at : {size_t{0}, size_t{40}, size_t{79}, size_t{100}, m2_size - 1}) {
    SCOPED_TRACE(::testing::Message() << "byte " << at);
    auto s = up_to_message_2(dialer, listener, payload);
    ASSERT_EQ(s.m2.size(), m2_size);
    s.m2[at] ^= 0x01;
    auto read = s.initiator.read_message(s.m2);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ErrorCode::kProtocol);
    EXPECT_THAT(read.error().message(), HasSubstr("noise: message 2"));
    EXPECT_THAT(read.error().message(), HasSubstr("failed authentication"));
    EXPECT_THAT(read.error().message(), HasSubstr(at < 80 ? "remote static key" : "payload"));
    // The handshake cannot go on.
    EXPECT_FALSE(s.initiator.my_turn());
    EXPECT_FALSE(s.initiator.complete());
    auto next = s.initiator.write_message(dialer.payload());
    ASSERT_FALSE(next);
    EXPECT_THAT(next.error().message(), HasSubstr("already failed"));
  }
}

TEST(NoiseNegativeTest, TamperedMessage3FailsAuthentication) {
  Peer dialer, listener;
  for (size_t at : {size_t{0}, size_t{47}, size_t{60}}) {
    SCOPED_TRACE(::testing::Message() << "byte " << at);
    auto s = up_to_message_2(dialer, listener, listener.payload());
    ASSERT_TRUE(s.initiator.read_message(s.m2));
    auto m3 = s.initiator.write_message(dialer.payload());
    ASSERT_TRUE(m3);
    EXPECT_TRUE(s.initiator.complete());
    (*m3)[at] ^= 0x80;
    auto read = s.responder.read_message(*m3);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ErrorCode::kProtocol);
    EXPECT_THAT(read.error().message(), HasSubstr("noise: message 3"));
    EXPECT_THAT(read.error().message(), HasSubstr("failed authentication"));
    EXPECT_FALSE(s.responder.complete());
  }
}

// Message 1 carries no authentication, but a changed ephemeral key (or a different
// prologue) changes the transcript hash, so message 2 fails at the initiator.
TEST(NoiseNegativeTest, TamperedMessage1OrPrologueFailsAtMessage2) {
  Peer dialer, listener;
  {
    Handshake a(Role::kInitiator, dialer.noise), b(Role::kResponder, listener.noise);
    auto m1 = a.write_message({});
    ASSERT_TRUE(m1);
    (*m1)[5] ^= 0x04;
    ASSERT_TRUE(b.read_message(*m1));
    auto m2 = b.write_message(listener.payload());
    ASSERT_TRUE(m2);
    auto read = a.read_message(*m2);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ErrorCode::kProtocol);
  }
  {
    auto p1 = bytes_of("prologue one"), p2 = bytes_of("prologue two");
    Handshake a(Role::kInitiator, dialer.noise, p1), b(Role::kResponder, listener.noise, p2);
    auto m1 = a.write_message({});
    ASSERT_TRUE(m1 && b.read_message(*m1));
    auto m2 = b.write_message({});
    ASSERT_TRUE(m2);
    auto read = a.read_message(*m2);
    ASSERT_FALSE(read);
    EXPECT_THAT(read.error().message(), HasSubstr("failed authentication"));
  }
}

TEST(NoiseNegativeTest, LowOrderKeysAreProtocolErrors) {
  Peer dialer, listener;
  {  // an all-zero ephemeral in message 1: the responder's ee gives zeros
    Handshake b(Role::kResponder, listener.noise);
    std::vector<uint8_t> m1(kKeySize, 0);
    ASSERT_TRUE(b.read_message(m1));
    auto m2 = b.write_message(listener.payload());
    ASSERT_FALSE(m2);
    EXPECT_EQ(m2.error().code(), ErrorCode::kProtocol);
    EXPECT_THAT(m2.error().message(), HasSubstr("noise: message 2"));
    EXPECT_THAT(m2.error().message(), HasSubstr("DH ee gave all zeros"));
  }
  {  // an all-zero ephemeral in message 2: the initiator's ee gives zeros
    Handshake a(Role::kInitiator, dialer.noise);
    ASSERT_TRUE(a.write_message({}));
    std::vector<uint8_t> m2(2 * kKeySize + 2 * kTagSize, 0);
    auto read = a.read_message(m2);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ErrorCode::kProtocol);
    EXPECT_THAT(read.error().message(), HasSubstr("DH ee gave all zeros"));
  }
}

// --- payload checks ------------------------------------------------------------------

// The listener signs its identity over a Noise key other than the one it handshakes with.
TEST(NoiseNegativeTest, SignatureOverAnotherStaticKeyIsPermissionDenied) {
  Peer dialer, listener;
  KeyPair other = KeyPair::generate();
  auto forged = encode_payload(make_payload(listener.identity, other.public_key));
  auto s = up_to_message_2(dialer, listener, forged);
  auto p2 = s.initiator.read_message(s.m2);
  ASSERT_TRUE(p2) << p2.error().message();  // the Noise layer itself is fine
  auto decoded = decode_payload(*p2);
  ASSERT_TRUE(decoded);
  auto verified = verify_payload(*decoded, s.initiator.remote_static(), listener.id());
  ASSERT_FALSE(verified);
  EXPECT_EQ(verified.error().code(), ErrorCode::kPermission);
  EXPECT_THAT(verified.error().message(), HasSubstr("noise: identity signature"));
  EXPECT_THAT(verified.error().message(), HasSubstr(listener.id().to_string()));
  // It does verify against the Noise key it was made for.
  EXPECT_TRUE(verify_payload(*decoded, other.public_key, std::nullopt));

  // A signature by another identity than the one the payload names.
  Peer mallory;
  Payload swapped = make_payload(listener.identity, listener.noise.public_key);
  auto sig = mallory.identity.sign(bytes_of(std::string(kSignaturePrefix) +
                                            std::string(listener.noise.public_key.begin(),
                                                        listener.noise.public_key.end())));
  swapped.identity_sig.assign(sig.begin(), sig.end());
  auto bad = verify_payload(swapped, listener.noise.public_key, std::nullopt);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kPermission);

  // A signature without the "noise-libp2p-static-key:" prefix.
  Payload unprefixed = make_payload(listener.identity, listener.noise.public_key);
  auto raw = listener.identity.sign(listener.noise.public_key);
  unprefixed.identity_sig.assign(raw.begin(), raw.end());
  auto bare_sig = verify_payload(unprefixed, listener.noise.public_key, std::nullopt);
  ASSERT_FALSE(bare_sig);
  EXPECT_EQ(bare_sig.error().code(), ErrorCode::kPermission);

  // A truncated signature.
  Payload short_sig = make_payload(listener.identity, listener.noise.public_key);
  short_sig.identity_sig.pop_back();
  auto truncated = verify_payload(short_sig, listener.noise.public_key, std::nullopt);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code(), ErrorCode::kPermission);
}

TEST(NoiseNegativeTest, PeerIdMismatchNamesBothIds) {
  Peer listener, dialed;
  Payload payload = make_payload(listener.identity, listener.noise.public_key);
  auto verified = verify_payload(payload, listener.noise.public_key, dialed.id());
  ASSERT_FALSE(verified);
  EXPECT_EQ(verified.error().code(), ErrorCode::kPermission);
  EXPECT_EQ(verified.error().message(),
            "noise: remote peer id " + listener.id().to_string() + " does not match the dialed " +
                dialed.id().to_string());
  EXPECT_TRUE(listener.id().to_string().starts_with("12D3KooW"));
  ASSERT_TRUE(verify_payload(payload, listener.noise.public_key, listener.id()));
}

TEST(NoiseNegativeTest, MalformedPayloadsAreProtocolErrors) {
  Peer peer;
  auto good = peer.payload();
  std::vector<std::pair<std::string, std::vector<uint8_t>>> cases = {
      {"not a protobuf", {0xff, 0xff, 0xff}},
      {"truncated", std::vector<uint8_t>(good.begin(), good.end() - 1)},
      {"a length past the end", {0x0a, 0x50, 0x01}},
      {"empty", {}},
      {"no identity_sig", {0x0a, 0x02, 0x08, 0x01}},
      {"no identity_key", {0x12, 0x01, 0x00}},
  };
  for (const auto& [name, bytes] : cases) {
    SCOPED_TRACE(name);
    auto decoded = decode_payload(bytes);
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().code(), ErrorCode::kProtocol);
    EXPECT_THAT(decoded.error().message(), HasSubstr("noise: handshake payload is malformed"));
  }
  EXPECT_THAT(decode_payload(cases[4].second).error().message(), HasSubstr("no identity_sig"));
  EXPECT_THAT(decode_payload(cases[5].second).error().message(), HasSubstr("no identity_key"));

  // A payload of the right shape whose identity key is not a key.
  Payload bad_key = make_payload(peer.identity, peer.noise.public_key);
  bad_key.identity_key = {0x08, 0x01, 0x12, 0x03, 1, 2, 3};
  auto verified = verify_payload(bad_key, peer.noise.public_key, std::nullopt);
  ASSERT_FALSE(verified);
  EXPECT_EQ(verified.error().code(), ErrorCode::kProtocol);
  EXPECT_THAT(verified.error().message(), HasSubstr("noise: remote identity key is malformed"));

  // A key type bzzz does not verify (secp256k1).
  Payload secp = make_payload(peer.identity, peer.noise.public_key);
  secp.identity_key = PublicKey{KeyType::kSecp256k1, std::vector<uint8_t>(33, 2)}.encode();
  auto unsupported = verify_payload(secp, peer.noise.public_key, std::nullopt);
  ASSERT_FALSE(unsupported);
  EXPECT_EQ(unsupported.error().code(), ErrorCode::kProtocol);
  EXPECT_THAT(unsupported.error().message(), HasSubstr("only Ed25519"));
}

TEST(NoisePayloadTest, EncodesTheLibp2pProtobuf) {
  std::array<uint8_t, 32> seed{};
  seed[31] = 1;
  auto identity = PrivateKey::from_seed(seed);
  Key noise_static{};
  noise_static.fill(0x42);
  Payload payload = make_payload(identity, noise_static);
  EXPECT_EQ(hex_encode(payload.identity_key),
            "080112204cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29");
  ASSERT_EQ(payload.identity_sig.size(), 64u);
  // Ed25519 is deterministic: the signature is the one libsodium makes over prefix || key.
  std::vector<uint8_t> signed_bytes = bytes_of(kSignaturePrefix);
  signed_bytes.insert(signed_bytes.end(), noise_static.begin(), noise_static.end());
  auto expected_sig = identity.sign(signed_bytes);
  EXPECT_TRUE(std::equal(expected_sig.begin(), expected_sig.end(), payload.identity_sig.begin()));

  // field 1 (bytes, 36) || field 2 (bytes, 64); no extensions when there are no muxers.
  auto bytes = encode_payload(payload);
  ASSERT_EQ(bytes.size(), 2 + 36 + 2 + 64u);
  EXPECT_EQ(hex_encode(std::span(bytes).first(2 + 36)),
            "0a24080112204cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29");
  EXPECT_EQ(bytes[38], 0x12);
  EXPECT_EQ(bytes[39], 64);
  auto decoded = decode_payload(bytes);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->identity_key, payload.identity_key);
  EXPECT_EQ(decoded->identity_sig, payload.identity_sig);
  EXPECT_TRUE(decoded->stream_muxers.empty());

  // With the stream-muxer extension: field 4 { field 2 (string) ... }.
  payload.stream_muxers = {"/yamux/1.0.0", "/mplex/6.7.0"};
  auto with_ext = encode_payload(payload);
  EXPECT_EQ(hex_encode(std::span(with_ext).subspan(104)),
            "221c" "120c" + hex_encode(bytes_of("/yamux/1.0.0")) + "120c" +
                hex_encode(bytes_of("/mplex/6.7.0")));
  auto decoded_ext = decode_payload(with_ext);
  ASSERT_TRUE(decoded_ext);
  EXPECT_EQ(decoded_ext->stream_muxers, payload.stream_muxers);

  // Unknown fields (a future extension) are skipped, as protobuf readers do.
  auto with_unknown = bytes;
  with_unknown.insert(with_unknown.end(), {0x2a, 0x01, 0x00});  // field 5, 1 byte
  auto decoded_unknown = decode_payload(with_unknown);
  ASSERT_TRUE(decoded_unknown) << decoded_unknown.error().message();
  EXPECT_EQ(decoded_unknown->identity_key, payload.identity_key);
}

// --- misuse ---------------------------------------------------------------------------

TEST(NoiseNegativeTest, ShortMessagesAreProtocolErrors) {
  Peer dialer, listener;
  {
    Handshake b(Role::kResponder, listener.noise);
    auto read = b.read_message(std::vector<uint8_t>(kKeySize - 1, 9));
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ErrorCode::kProtocol);
    EXPECT_THAT(read.error().message(),
                HasSubstr("noise: message 1 (-> e) has 31 bytes, fewer than the 32"));
    EXPECT_FALSE(b.read_message(std::vector<uint8_t>(kKeySize, 9)));  // failed for good
  }
  {
    auto s = up_to_message_2(dialer, listener, {});
    ASSERT_EQ(s.m2.size(), 96u);  // e, encrypted s, and the empty payload's tag
    s.m2.pop_back();
    auto read = s.initiator.read_message(s.m2);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ErrorCode::kProtocol);
    EXPECT_THAT(read.error().message(), HasSubstr("has 95 bytes, fewer than the 96"));
  }
  {
    auto s = up_to_message_2(dialer, listener, {});
    ASSERT_TRUE(s.initiator.read_message(s.m2));
    auto m3 = s.initiator.write_message({});
    ASSERT_TRUE(m3);
    ASSERT_EQ(m3->size(), 64u);
    m3->pop_back();
    auto read = s.responder.read_message(*m3);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ErrorCode::kProtocol);
    EXPECT_THAT(read.error().message(), HasSubstr("noise: message 3 (-> s, se) has 63 bytes"));
  }
}

TEST(NoiseNegativeTest, OversizedMessagesAreRefused) {
  Peer dialer, listener;
  Handshake b(Role::kResponder, listener.noise);
  auto read = b.read_message(std::vector<uint8_t>(kMaxMessage + 1, 1));
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), ErrorCode::kProtocol);
  EXPECT_THAT(read.error().message(), HasSubstr("more than the 65535 allowed"));

  Handshake a(Role::kInitiator, dialer.noise);
  auto big = a.write_message(std::vector<uint8_t>(kMaxMessage - kKeySize + 1, 1));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(big.error().message(), HasSubstr("at most 65503 bytes"));

  // The largest payloads that fit make messages of exactly 65535 bytes.
  Handshake a2(Role::kInitiator, dialer.noise), b2(Role::kResponder, listener.noise);
  auto m1 = a2.write_message(std::vector<uint8_t>(kMaxMessage - kKeySize, 7));
  ASSERT_TRUE(m1);
  EXPECT_EQ(m1->size(), kMaxMessage);
  ASSERT_TRUE(b2.read_message(*m1));
  auto m2 = b2.write_message(std::vector<uint8_t>(kMaxMessage - 96, 7));
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->size(), kMaxMessage);
  ASSERT_TRUE(a2.read_message(*m2));
  auto m3 = a2.write_message(std::vector<uint8_t>(kMaxMessage - 64, 7));
  ASSERT_TRUE(m3);
  EXPECT_EQ(m3->size(), kMaxMessage);
  auto p3 = b2.read_message(*m3);
  ASSERT_TRUE(p3);
  EXPECT_EQ(p3->size(), kMaxMessage - 64);
}

TEST(NoiseNegativeTest, CallsOutOfTurnFail) {
  Peer dialer, listener;
  {
    Handshake a(Role::kInitiator, dialer.noise);
    EXPECT_TRUE(a.my_turn());
    auto read = a.read_message(std::vector<uint8_t>(kKeySize, 1));
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(read.error().message(),
                HasSubstr("noise: read_message out of turn: the initiator must write message 1"));
    EXPECT_FALSE(a.my_turn());
    auto write = a.write_message({});
    ASSERT_FALSE(write);
    EXPECT_THAT(write.error().message(), HasSubstr("already failed"));
  }
  {
    Handshake b(Role::kResponder, listener.noise);
    EXPECT_FALSE(b.my_turn());
    auto write = b.write_message({});
    ASSERT_FALSE(write);
    EXPECT_EQ(write.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(write.error().message(), HasSubstr("the responder must read message 1"));
  }
  {
    Handshake a(Role::kInitiator, dialer.noise);
    ASSERT_TRUE(a.write_message({}));
    EXPECT_FALSE(a.my_turn());
    auto again = a.write_message({});  // twice in a row
    ASSERT_FALSE(again);
    EXPECT_THAT(again.error().message(), HasSubstr("the initiator must read message 2"));
  }
  {  // after completion neither side may go on
    auto s = up_to_message_2(dialer, listener, {});
    EXPECT_FALSE(s.responder.my_turn());
    EXPECT_FALSE(s.initiator.my_turn());  // it must read message 2 first
    ASSERT_TRUE(s.initiator.read_message(s.m2));
    EXPECT_TRUE(s.initiator.my_turn());
    auto m3 = s.initiator.write_message({});
    ASSERT_TRUE(m3);
    ASSERT_TRUE(s.responder.read_message(*m3));
    auto more = s.initiator.write_message({});
    ASSERT_FALSE(more);
    EXPECT_THAT(more.error().message(), HasSubstr("already complete"));
    EXPECT_FALSE(s.responder.read_message(*m3));
  }
}

TEST(NoiseDeathTest, SplitBeforeCompletionAborts) {
  Handshake a(Role::kInitiator, KeyPair::generate());
  EXPECT_DEATH(a.split(), "");
}

// --- CipherState ----------------------------------------------------------------------

Key random_key() {
  Key key;
  randombytes_buf(key.data(), key.size());
  return key;
}

// libsodium, with the nonce built by hand, is the independent reference.
std::vector<uint8_t> sodium_seal(const Key& key, const std::array<uint8_t, 12>& nonce,
                                 std::span<const uint8_t> ad, std::span<const uint8_t> plaintext) {
  std::vector<uint8_t> out(plaintext.size() + kTagSize);
  unsigned long long out_len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &out_len, plaintext.data(),
                                            plaintext.size(), ad.data(), ad.size(), nullptr,
                                            nonce.data(), key.data());
  out.resize(out_len);
  return out;
}

TEST(NoiseCipherTest, NonceIsFourZeroBytesThenLittleEndianCounter) {
  ASSERT_GE(sodium_init(), 0);
  Key key = random_key();
  auto ad = bytes_of("associated");
  auto plaintext = bytes_of("the nonce layout matters");

  CipherState cs(key);
  EXPECT_EQ(cs.nonce(), 0u);
  cs.set_nonce(1);
  auto sealed = cs.encrypt(ad, plaintext);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(cs.nonce(), 2u);
  EXPECT_EQ(*sealed, sodium_seal(key, {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, ad, plaintext));
  EXPECT_NE(*sealed, sodium_seal(key, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, ad, plaintext));
  EXPECT_NE(*sealed, sodium_seal(key, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ad, plaintext));

  cs.set_nonce(0x0102030405060708);
  sealed = cs.encrypt(ad, plaintext);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(*sealed, sodium_seal(key, {0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1}, ad, plaintext));

  // And the other way: what libsodium seals at nonce 5 opens at nonce 5 only.
  auto theirs = sodium_seal(key, {0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0}, ad, plaintext);
  CipherState recv(key);
  recv.set_nonce(4);
  EXPECT_FALSE(recv.decrypt(ad, theirs));
  EXPECT_EQ(recv.nonce(), 4u);
  recv.set_nonce(5);
  auto opened = recv.decrypt(ad, theirs);
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(*opened, plaintext);
  EXPECT_EQ(recv.nonce(), 6u);
}

TEST(NoiseCipherTest, AuthenticationFailuresLeaveTheNonceAlone) {
  Key key = random_key();
  CipherState send(key), recv(key);
  auto sealed = send.encrypt(bytes_of("ad"), bytes_of("payload"));
  ASSERT_TRUE(sealed);
  auto wrong_ad = recv.decrypt(bytes_of("AD"), *sealed);
  ASSERT_FALSE(wrong_ad);
  EXPECT_EQ(wrong_ad.error().code(), ErrorCode::kProtocol);
  EXPECT_EQ(wrong_ad.error().message(), "noise: message failed authentication");
  EXPECT_EQ(recv.nonce(), 0u);
  auto flipped = *sealed;
  flipped[0] ^= 1;
  EXPECT_FALSE(recv.decrypt(bytes_of("ad"), flipped));
  EXPECT_FALSE(CipherState(random_key()).decrypt(bytes_of("ad"), *sealed));
  EXPECT_EQ(recv.nonce(), 0u);
  auto opened = recv.decrypt(bytes_of("ad"), *sealed);
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, bytes_of("payload"));
  EXPECT_EQ(recv.nonce(), 1u);

  auto too_short = recv.decrypt({}, std::vector<uint8_t>(kTagSize - 1, 0));
  ASSERT_FALSE(too_short);
  EXPECT_EQ(too_short.error().code(), ErrorCode::kProtocol);
  EXPECT_THAT(too_short.error().message(), HasSubstr("15 bytes is shorter than its 16-byte tag"));

  // A failed in-place decryption leaves no unauthenticated plaintext behind.
  auto again = send.encrypt({}, bytes_of("secret bytes"));
  ASSERT_TRUE(again);
  (*again)[again->size() - 1] ^= 1;
  ASSERT_FALSE(recv.decrypt_in_place({}, again->data(), again->size()));
  EXPECT_EQ(*again, std::vector<uint8_t>(again->size(), 0));
}

TEST(NoiseCipherTest, InPlaceFormsMatchTheCopyingOnes) {
  Key key = random_key();
  CipherState a(key), b(key), recv(key);
  for (size_t len : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, kMaxPlaintext}) {
    SCOPED_TRACE(len);
    std::vector<uint8_t> plaintext(len, 0x11);
    if (len > 0) randombytes_buf(plaintext.data(), plaintext.size());
    auto copied = a.encrypt(bytes_of("h"), plaintext);
    ASSERT_TRUE(copied);
    std::vector<uint8_t> buf = plaintext;
    buf.resize(len + kTagSize);
    ASSERT_TRUE(b.encrypt_in_place(bytes_of("h"), buf.data(), len));
    EXPECT_EQ(buf, *copied);
    ASSERT_TRUE(recv.decrypt_in_place(bytes_of("h"), buf.data(), buf.size()));
    EXPECT_TRUE(std::equal(plaintext.begin(), plaintext.end(), buf.begin()));
  }
}

TEST(NoiseCipherTest, WithoutAKeyNothingIsEncrypted) {
  CipherState none;
  EXPECT_FALSE(none.has_key());
  auto out = none.encrypt(bytes_of("ad"), bytes_of("clear"));
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, bytes_of("clear"));
  auto in = none.decrypt(bytes_of("ad"), bytes_of("clear"));
  ASSERT_TRUE(in);
  EXPECT_EQ(*in, bytes_of("clear"));
  EXPECT_EQ(none.nonce(), 0u);
  none.set_key(random_key());
  EXPECT_TRUE(none.has_key());
  auto sealed = none.encrypt({}, bytes_of("clear"));
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->size(), 5 + kTagSize);
}

TEST(NoiseCipherTest, NonceExhaustionIsAnError) {
  Key key = random_key();
  CipherState cs(key);
  cs.set_nonce(std::numeric_limits<uint64_t>::max() - 1);
  ASSERT_TRUE(cs.encrypt({}, bytes_of("last")));  // 2^64 - 2 is the last usable nonce
  EXPECT_EQ(cs.nonce(), std::numeric_limits<uint64_t>::max());
  auto over = cs.encrypt({}, bytes_of("one more"));
  ASSERT_FALSE(over);
  EXPECT_THAT(over.error().message(), HasSubstr("nonce exhausted"));
  CipherState recv(key);
  recv.set_nonce(std::numeric_limits<uint64_t>::max());
  EXPECT_FALSE(recv.decrypt({}, std::vector<uint8_t>(kTagSize, 0)));
}

// CipherState owns an OpenSSL context: copies must make their own, moves take it along,
// and set_key must re-key it.
TEST(NoiseCipherTest, CopiesAndMovesKeepWorking) {
  Key key = random_key(), other = random_key();
  CipherState original(key), reference(key);
  ASSERT_TRUE(original.encrypt({}, bytes_of("warm up")));  // the context now exists
  ASSERT_TRUE(reference.encrypt({}, bytes_of("warm up")));

  CipherState copy = original;  // copy construction
  auto from_copy = copy.encrypt({}, bytes_of("next"));
  auto from_original = original.encrypt({}, bytes_of("next"));
  auto expected = reference.encrypt({}, bytes_of("next"));
  ASSERT_TRUE(from_copy && from_original && expected);
  EXPECT_EQ(*from_copy, *expected);
  EXPECT_EQ(*from_original, *expected);

  CipherState assigned(other);  // copy assignment over a state with another key
  ASSERT_TRUE(assigned.encrypt({}, bytes_of("x")));
  assigned = original;
  CipherState moved = std::move(original);  // move construction
  CipherState move_assigned(other);
  ASSERT_TRUE(move_assigned.encrypt({}, bytes_of("x")));
  move_assigned = std::move(copy);  // move assignment
  CipherState& alias = assigned;
  assigned = alias;  // self-assignment keeps it working
  expected = reference.encrypt({}, bytes_of("third"));
  for (CipherState* cs : {&assigned, &moved, &move_assigned}) {
    auto got = cs->encrypt({}, bytes_of("third"));
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, *expected);
  }

  // set_key re-keys a context already in use and restarts the nonce.
  assigned.set_key(other);
  EXPECT_EQ(assigned.nonce(), 0u);
  CipherState fresh(other);
  EXPECT_EQ(*assigned.encrypt({}, bytes_of("y")), *fresh.encrypt({}, bytes_of("y")));

  // A copy of a receiving state decrypts what the sender sends next, as the original does.
  CipherState send(key), recv(key);
  auto m0 = send.encrypt({}, bytes_of("m0"));
  ASSERT_TRUE(recv.decrypt({}, *m0));
  CipherState recv_copy = recv;
  auto m1 = send.encrypt({}, bytes_of("m1"));
  EXPECT_TRUE(recv_copy.decrypt({}, *m1));
  EXPECT_TRUE(recv.decrypt({}, *m1));
}

// --- framing ----------------------------------------------------------------------------

TEST(NoiseFrameTest, HeaderIsBigEndian) {
  std::vector<uint8_t> out{0xaa};
  append_frame_header(out, 0x1234);
  append_frame_header(out, 65535);
  append_frame_header(out, 0);
  EXPECT_EQ(out, (std::vector<uint8_t>{0xaa, 0x12, 0x34, 0xff, 0xff, 0x00, 0x00}));
}

TEST(NoiseFrameTest, PartialInputIsNotConsumed) {
  const std::vector<uint8_t> wire{0x00, 0x03, 'a', 'b', 'c', 0x00, 0x00, 0x01, 0x00, 'x'};
  // Every strict prefix of the first frame: nullopt, and `in` exactly as it was.
  for (size_t n = 0; n < 5; ++n) {
    SCOPED_TRACE(n);
    std::span<const uint8_t> in(wire.data(), n);
    EXPECT_FALSE(take_frame(in));
    EXPECT_EQ(in.data(), wire.data());
    EXPECT_EQ(in.size(), n);
  }
  std::span<const uint8_t> in = wire;
  auto first = take_frame(in);
  ASSERT_TRUE(first);
  EXPECT_EQ(std::vector<uint8_t>(first->begin(), first->end()), bytes_of("abc"));
  EXPECT_EQ(first->data(), wire.data() + 2);  // the body is a view, not a copy
  EXPECT_EQ(in.size(), 5u);
  auto empty = take_frame(in);  // a zero-length frame
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(in.size(), 3u);
  // A 256-byte frame of which one byte has arrived.
  const uint8_t* before = in.data();
  EXPECT_FALSE(take_frame(in));
  EXPECT_EQ(in.data(), before);
  EXPECT_EQ(in.size(), 3u);

  // The largest frame.
  std::vector<uint8_t> big;
  append_frame_header(big, 65535);
  big.resize(2 + 65534, 0x5a);
  std::span<const uint8_t> partial = big;
  EXPECT_FALSE(take_frame(partial));
  EXPECT_EQ(partial.size(), big.size());
  big.push_back(0x5a);
  std::span<const uint8_t> whole = big;
  auto body = take_frame(whole);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->size(), 65535u);
  EXPECT_TRUE(whole.empty());
}

}  // namespace
}  // namespace bzzz::p2p::noise
