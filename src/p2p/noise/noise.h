// p2p/noise: the Noise XX handshake libp2p secures connections with
// (Noise_XX_25519_ChaChaPoly_SHA256, libp2p/specs noise/README.md), as pure state
// machines over bytes: no sockets here (p2p/net drives these over a connection).
//
// Owns: X25519 key pairs, the Noise CipherState (ChaCha20-Poly1305 IETF with the
// nonce as 4 zero bytes || u64 little-endian counter), SymmetricState (SHA-256, HKDF
// over HMAC-SHA256), the XX HandshakeState, and the libp2p handshake payload (the
// identity key, its signature over "noise-libp2p-static-key:" || the Noise static key,
// and the stream-muxer extension). Transport framing is u16be(len) || ciphertext, at
// most 65535 bytes, so plaintext goes out in chunks of at most kMaxPlaintext.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/status/result.h"
#include "p2p/identity/keys.h"
#include "p2p/identity/peer_id.h"

struct evp_cipher_ctx_st;  // OpenSSL's EVP_CIPHER_CTX

namespace bzzz::p2p::noise {

inline constexpr std::string_view kProtocolId = "/noise";
inline constexpr std::string_view kProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";
inline constexpr std::string_view kSignaturePrefix = "noise-libp2p-static-key:";
inline constexpr size_t kKeySize = 32;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kMaxMessage = 65535;                   // one frame's body
inline constexpr size_t kMaxPlaintext = kMaxMessage - kTagSize;  // 65519

using Key = std::array<uint8_t, kKeySize>;

struct KeyPair {
  Key private_key{};
  Key public_key{};
  static KeyPair generate();
  static KeyPair from_private(const Key& private_key);  // public = X25519(private, base)
};

// One direction of an established channel (or of the handshake's encrypted parts).
class CipherState {
 public:
  CipherState() = default;
  explicit CipherState(const Key& key) { set_key(key); }
  void set_key(const Key& key);
  bool has_key() const { return has_key_; }
  uint64_t nonce() const { return nonce_; }
  void set_nonce(uint64_t n) { nonce_ = n; }  // tests only

  // Encrypts `len` bytes at `data` in place and writes the 16-byte tag right after them
  // (so `data` must have room for len + kTagSize). Without a key it copies nothing and
  // appends no tag (Noise's rule before the first DH). Fails only when the nonce would
  // wrap (2^64 - 1 messages).
  Status encrypt_in_place(std::span<const uint8_t> ad, uint8_t* data, size_t len);
  // Decrypts `len` bytes (ciphertext || tag) in place; on success the plaintext is the
  // first len - kTagSize bytes. A wrong tag is kProtocol ("noise: message failed
  // authentication"); the nonce advances only on success.
  Status decrypt_in_place(std::span<const uint8_t> ad, uint8_t* data, size_t len);

  // Conveniences over the in-place forms.
  Result<std::vector<uint8_t>> encrypt(std::span<const uint8_t> ad, std::span<const uint8_t> plaintext);
  Result<std::vector<uint8_t>> decrypt(std::span<const uint8_t> ad, std::span<const uint8_t> ciphertext);

 private:
  // Owns one OpenSSL AEAD context (EVP_chacha20_poly1305, ~2.5x libsodium's speed here),
  // made and keyed from key_ on first use. A copy starts without one and makes its own;
  // a move takes the context along.
  class Context {
   public:
    Context() = default;
    Context(const Context&) noexcept {}
    Context& operator=(const Context& other) noexcept;
    Context(Context&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}
    Context& operator=(Context&& other) noexcept;
    ~Context() { reset(); }
    evp_cipher_ctx_st* get() const { return ctx_; }
    void set(evp_cipher_ctx_st* ctx) {
      reset();
      ctx_ = ctx;
    }
    void reset();

   private:
    evp_cipher_ctx_st* ctx_ = nullptr;
  };
  // The context keyed with key_, made on first use; nullptr if OpenSSL cannot make one.
  evp_cipher_ctx_st* context();

  Key key_{};
  bool has_key_ = false;
  uint64_t nonce_ = 0;
  Context ctx_;
};

enum class Role { kInitiator, kResponder };

// The XX pattern:  -> e   <- e, ee, s, es   -> s, se.  Initiator writes messages 1 and
// 3 and reads 2; the responder the other way round. Any failure (a short message, a bad
// tag, a call out of turn) is an error and the handshake cannot continue.
class Handshake {
 public:
  // `ephemeral` fixes the ephemeral key (test vectors); normally a fresh one is made.
  Handshake(Role role, const KeyPair& static_key, std::span<const uint8_t> prologue = {},
            std::optional<KeyPair> ephemeral = std::nullopt);

  Result<std::vector<uint8_t>> write_message(std::span<const uint8_t> payload);
  Result<std::vector<uint8_t>> read_message(std::span<const uint8_t> message);  // -> payload

  bool complete() const { return step_ == 3; }
  // Whose turn: true when this side must write the next message.
  bool my_turn() const;
  const Key& remote_static() const { return rs_; }  // valid once received
  const Key& remote_ephemeral() const { return re_; }
  const std::array<uint8_t, 32>& handshake_hash() const { return h_; }
  // After complete(): {send, receive} for this side (initiator sends with cs1).
  std::pair<CipherState, CipherState> split() const;

 private:
  void mix_hash(std::span<const uint8_t> data);
  void mix_key(std::span<const uint8_t> input_key_material);
  Status encrypt_and_hash(std::span<const uint8_t> plaintext, std::vector<uint8_t>& out);
  Result<std::vector<uint8_t>> decrypt_and_hash(std::span<const uint8_t> ciphertext);
  Status dh_into_key(const Key& priv, const Key& pub, const char* what);
  // Checks that it is this side's turn to write (or read) and that nothing failed before.
  Status check_turn(bool writing) const;
  // Marks the handshake failed (no further message is accepted) and returns the error.
  tl::unexpected<Error> failed(ErrorCode code, std::string message);

  Role role_;
  KeyPair s_;
  KeyPair e_;
  Key rs_{};
  Key re_{};
  std::array<uint8_t, 32> h_{};
  std::array<uint8_t, 32> ck_{};
  CipherState cipher_;
  int step_ = 0;  // messages done so far (0..3)
  bool failed_ = false;
};

// The libp2p handshake payload.
struct Payload {
  std::vector<uint8_t> identity_key;  // PublicKey protobuf
  std::vector<uint8_t> identity_sig;
  std::vector<std::string> stream_muxers;  // extensions.stream_muxers (we send none)
};
std::vector<uint8_t> encode_payload(const Payload& payload);
// Errors: not a protobuf of that shape ("noise: handshake payload is malformed").
Result<Payload> decode_payload(std::span<const uint8_t> bytes);
// Our payload: identity key and signature over prefix || our Noise static public key.
Payload make_payload(const PrivateKey& identity, const Key& noise_static_public);
// Checks the remote's payload against the Noise static key it used: the key decodes,
// the signature verifies, and (when `expected` is set) the peer id is the one dialed.
// Returns the remote peer's id and key. Errors name what failed (kPermission for a
// bad signature or a peer id mismatch, kProtocol for a malformed key or payload).
Result<std::pair<PeerId, PublicKey>> verify_payload(const Payload& payload, const Key& remote_noise_static,
                                                    const std::optional<PeerId>& expected);

// Transport framing: u16be(length) || body. Pure helpers.
void append_frame_header(std::vector<uint8_t>& out, uint16_t length);
// nullopt when `in` does not yet hold a whole frame; else the body (and `in` advances).
std::optional<std::span<const uint8_t>> take_frame(std::span<const uint8_t>& in);

}  // namespace bzzz::p2p::noise
