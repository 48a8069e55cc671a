#include "p2p/noise/noise.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "p2p/proto/noise.pb.h"

namespace bzzz::p2p::noise {

namespace {

static_assert(kProtocolName.size() == 32, "the protocol name is used as h unhashed");

constexpr size_t kHashSize = crypto_hash_sha256_BYTES;
constexpr size_t kNonceSize = 12;
// A message's place in the XX pattern, for error messages.
constexpr const char* kMessageName[3] = {"message 1 (-> e)", "message 2 (<- e, ee, s, es)",
                                         "message 3 (-> s, se)"};
// What each message carries besides its payload: keys, the encrypted static key's tag,
// and the payload's tag once there is a key.
constexpr size_t kFixedSize[3] = {kKeySize, kKeySize + (kKeySize + kTagSize) + kTagSize,
                                  (kKeySize + kTagSize) + kTagSize};
constexpr int kTagLength = static_cast<int>(kTagSize);  // as OpenSSL takes it

using Hash = std::array<uint8_t, kHashSize>;

void init_sodium() {
  static const bool ready = [] {
    if (sodium_init() < 0) std::abort();  // libsodium cannot work: nothing safe to do
    return true;
  }();
  (void)ready;
}

// HMAC-SHA256(key, data1 || data2).
Hash hmac(std::span<const uint8_t> key, std::span<const uint8_t> data1,
          std::span<const uint8_t> data2 = {}) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.data(), key.size());
  crypto_auth_hmacsha256_update(&state, data1.data(), data1.size());
  crypto_auth_hmacsha256_update(&state, data2.data(), data2.size());
  Hash out;
  crypto_auth_hmacsha256_final(&state, out.data());
  sodium_memzero(&state, sizeof state);
  return out;
}

// The Noise spec's HKDF with two outputs (all XX needs: MixKey and Split).
std::pair<Hash, Hash> hkdf2(const Hash& chaining_key, std::span<const uint8_t> input_key_material) {
  Hash temp_key = hmac(chaining_key, input_key_material);
  const uint8_t one = 0x01, two = 0x02;
  Hash out1 = hmac(temp_key, std::span(&one, 1));
  Hash out2 = hmac(temp_key, out1, std::span(&two, 1));
  sodium_memzero(temp_key.data(), temp_key.size());
  return {out1, out2};
}

// 4 zero bytes || u64 little-endian counter.
std::array<uint8_t, kNonceSize> make_nonce(uint64_t n) {
  std::array<uint8_t, kNonceSize> nonce{};
  for (size_t i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(n >> (8 * i));
  return nonce;
}

tl::unexpected<Error> openssl_error(const char* what) {
  return make_error(ErrorCode::kInternal,
                    fmt::format("noise: OpenSSL ChaCha20-Poly1305 {} failed", what));
}

// An error message without its leading "noise: ", to nest it in a message that has one.
std::string_view bare(const Error& error) {
  std::string_view message = error.message();
  if (message.starts_with("noise: ")) message.remove_prefix(7);
  return message;
}

std::span<const uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace

// --- KeyPair ------------------------------------------------------------------------

KeyPair KeyPair::generate() {
  init_sodium();
  Key private_key;
  randombytes_buf(private_key.data(), private_key.size());
  KeyPair pair = from_private(private_key);
  sodium_memzero(private_key.data(), private_key.size());
  return pair;
}

KeyPair KeyPair::from_private(const Key& private_key) {
  init_sodium();
  KeyPair pair;
  pair.private_key = private_key;
  // Fails only for an all-zero result, which a clamped scalar times the base point is not.
  (void)crypto_scalarmult_base(pair.public_key.data(), private_key.data());
  return pair;
}

// --- CipherState --------------------------------------------------------------------

CipherState::Context& CipherState::Context::operator=(const Context& other) noexcept {
  if (this != &other) reset();  // the owner re-keys a fresh context from its new key_
  return *this;
}

CipherState::Context& CipherState::Context::operator=(Context&& other) noexcept {
  if (this != &other) set(std::exchange(other.ctx_, nullptr));
  return *this;
}

void CipherState::Context::reset() {
  EVP_CIPHER_CTX_free(ctx_);  // cleanses the key schedule; a no-op on nullptr
  ctx_ = nullptr;
}

void CipherState::set_key(const Key& key) {
  key_ = key;
  has_key_ = true;
  nonce_ = 0;
  ctx_.reset();  // context() makes one with the new key when next needed
}

EVP_CIPHER_CTX* CipherState::context() {
  if (ctx_.get() != nullptr) return ctx_.get();
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return nullptr;
  if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), nullptr, key_.data(), nullptr, 1) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return nullptr;
  }
  ctx_.set(ctx);
  return ctx;
}

Status CipherState::encrypt_in_place(std::span<const uint8_t> ad, uint8_t* data, size_t len) {
  if (!has_key_) return ok();
  if (nonce_ == std::numeric_limits<uint64_t>::max()) {
    return make_error(ErrorCode::kProtocol, "noise: nonce exhausted (2^64 - 1 messages sent)");
  }
  if (len > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("noise: cannot encrypt {} bytes at once", len));
  }
  EVP_CIPHER_CTX* ctx = context();
  if (ctx == nullptr) return openssl_error("setup");
  auto nonce = make_nonce(nonce_);
  int out_len = 0;
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data(), 1) != 1) {
    return openssl_error("init");
  }
  if (!ad.empty() &&
      EVP_CipherUpdate(ctx, nullptr, &out_len, ad.data(), static_cast<int>(ad.size())) != 1) {
    return openssl_error("aad");
  }
  if (len > 0 && EVP_CipherUpdate(ctx, data, &out_len, data, static_cast<int>(len)) != 1) {
    return openssl_error("encrypt");
  }
  if (EVP_CipherFinal_ex(ctx, data + len, &out_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagLength, data + len) != 1) {
    return openssl_error("tag");
  }
  ++nonce_;
  return ok();
}

Status CipherState::decrypt_in_place(std::span<const uint8_t> ad, uint8_t* data, size_t len) {
  if (!has_key_) return ok();
  if (len < kTagSize) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("noise: encrypted message of {} bytes is shorter than its "
                                  "{}-byte tag",
                                  len, kTagSize));
  }
  if (nonce_ == std::numeric_limits<uint64_t>::max()) {
    return make_error(ErrorCode::kProtocol, "noise: nonce exhausted (2^64 - 1 messages received)");
  }
  size_t body = len - kTagSize;
  if (body > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("noise: cannot decrypt {} bytes at once", len));
  }
  EVP_CIPHER_CTX* ctx = context();
  if (ctx == nullptr) return openssl_error("setup");
  auto nonce = make_nonce(nonce_);
  int out_len = 0;
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data(), 0) != 1) {
    return openssl_error("init");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagLength, data + body) != 1) {
    return openssl_error("tag");
  }
  if (!ad.empty() &&
      EVP_CipherUpdate(ctx, nullptr, &out_len, ad.data(), static_cast<int>(ad.size())) != 1) {
    return openssl_error("aad");
  }
  if (body > 0 && EVP_CipherUpdate(ctx, data, &out_len, data, static_cast<int>(body)) != 1) {
    return openssl_error("decrypt");
  }
  if (EVP_CipherFinal_ex(ctx, data + body, &out_len) != 1) {
    // OpenSSL decrypts before it checks the tag: leave no unauthenticated plaintext behind.
    sodium_memzero(data, len);
    return make_error(ErrorCode::kProtocol, "noise: message failed authentication");
  }
  ++nonce_;
  return ok();
}

Result<std::vector<uint8_t>> CipherState::encrypt(std::span<const uint8_t> ad,
                                                  std::span<const uint8_t> plaintext) {
  std::vector<uint8_t> out(plaintext.size() + (has_key_ ? kTagSize : 0));
  if (!plaintext.empty()) std::memcpy(out.data(), plaintext.data(), plaintext.size());
  BZZZ_TRY(encrypt_in_place(ad, out.data(), plaintext.size()));
  return out;
}

Result<std::vector<uint8_t>> CipherState::decrypt(std::span<const uint8_t> ad,
                                                  std::span<const uint8_t> ciphertext) {
  std::vector<uint8_t> out(ciphertext.begin(), ciphertext.end());
  BZZZ_TRY(decrypt_in_place(ad, out.data(), out.size()));
  if (has_key_) out.resize(out.size() - kTagSize);
  return out;
}

// --- Handshake ----------------------------------------------------------------------

Handshake::Handshake(Role role, const KeyPair& static_key, std::span<const uint8_t> prologue,
                     std::optional<KeyPair> ephemeral)
    : role_(role), s_(static_key), e_(ephemeral ? *ephemeral : KeyPair::generate()) {
  init_sodium();
  std::memcpy(h_.data(), kProtocolName.data(), h_.size());
  ck_ = h_;
  mix_hash(prologue);
}

void Handshake::mix_hash(std::span<const uint8_t> data) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, h_.data(), h_.size());
  crypto_hash_sha256_update(&state, data.data(), data.size());
  crypto_hash_sha256_final(&state, h_.data());
}

void Handshake::mix_key(std::span<const uint8_t> input_key_material) {
  auto [ck, temp_key] = hkdf2(ck_, input_key_material);
  ck_ = ck;
  cipher_.set_key(temp_key);
  sodium_memzero(ck.data(), ck.size());
  sodium_memzero(temp_key.data(), temp_key.size());
}

Status Handshake::encrypt_and_hash(std::span<const uint8_t> plaintext, std::vector<uint8_t>& out) {
  size_t at = out.size();
  out.resize(at + plaintext.size() + (cipher_.has_key() ? kTagSize : 0));
  if (!plaintext.empty()) std::memcpy(out.data() + at, plaintext.data(), plaintext.size());
  BZZZ_TRY(cipher_.encrypt_in_place(h_, out.data() + at, plaintext.size()));
  mix_hash(std::span(out).subspan(at));
  return ok();
}

Result<std::vector<uint8_t>> Handshake::decrypt_and_hash(std::span<const uint8_t> ciphertext) {
  Hash old_h = h_;
  mix_hash(ciphertext);  // over the ciphertext, before it is decrypted in place
  std::vector<uint8_t> plaintext(ciphertext.begin(), ciphertext.end());
  BZZZ_TRY(cipher_.decrypt_in_place(old_h, plaintext.data(), plaintext.size()));
  if (cipher_.has_key()) plaintext.resize(plaintext.size() - kTagSize);
  return plaintext;
}

Status Handshake::dh_into_key(const Key& priv, const Key& pub, const char* what) {
  Key shared;
  if (crypto_scalarmult(shared.data(), priv.data(), pub.data()) != 0) {
    // libsodium refuses an all-zero result: the remote key is a low-order point.
    return make_error(ErrorCode::kProtocol,
                      fmt::format("noise: DH {} gave all zeros (the remote sent a low-order key)",
                                  what));
  }
  mix_key(shared);
  sodium_memzero(shared.data(), shared.size());
  return ok();
}

bool Handshake::my_turn() const {
  if (failed_ || complete()) return false;
  bool initiator_writes = step_ != 1;
  return initiator_writes == (role_ == Role::kInitiator);
}

Status Handshake::check_turn(bool writing) const {
  if (failed_) {
    return make_error(ErrorCode::kInvalidArgument, "noise: the handshake already failed");
  }
  if (complete()) {
    return make_error(ErrorCode::kInvalidArgument, "noise: the handshake is already complete");
  }
  if (my_turn() != writing) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("noise: {} out of turn: the {} must {} {} next",
                                  writing ? "write_message" : "read_message",
                                  role_ == Role::kInitiator ? "initiator" : "responder",
                                  writing ? "read" : "write", kMessageName[step_]));
  }
  return ok();
}

tl::unexpected<Error> Handshake::failed(ErrorCode code, std::string message) {
  failed_ = true;
  return make_error(code, std::move(message));
}

Result<std::vector<uint8_t>> Handshake::write_message(std::span<const uint8_t> payload) {
  if (auto turn = check_turn(true); !turn) {
    return failed(turn.error().code(), turn.error().message());
  }
  size_t overhead = kFixedSize[step_];
  if (payload.size() > kMaxMessage - overhead) {
    return failed(ErrorCode::kInvalidArgument,
                  fmt::format("noise: a payload of {} bytes does not fit {} (at most {} bytes)",
                              payload.size(), kMessageName[step_], kMaxMessage - overhead));
  }
  std::vector<uint8_t> out;
  out.reserve(overhead + payload.size());
  auto run = [&]() -> Status {
    if (step_ == 0 || step_ == 1) {  // e
      out.insert(out.end(), e_.public_key.begin(), e_.public_key.end());
      mix_hash(e_.public_key);
    }
    if (step_ == 1) {
      BZZZ_TRY(dh_into_key(e_.private_key, re_, "ee"));
      BZZZ_TRY(encrypt_and_hash(s_.public_key, out));    // s
      BZZZ_TRY(dh_into_key(s_.private_key, re_, "es"));  // responder: DH(s, re)
    } else if (step_ == 2) {
      BZZZ_TRY(encrypt_and_hash(s_.public_key, out));    // s
      BZZZ_TRY(dh_into_key(s_.private_key, re_, "se"));  // initiator: DH(s, re)
    }
    return encrypt_and_hash(payload, out);
  };
  if (auto written = run(); !written) {
    return failed(written.error().code(),
                  fmt::format("noise: {}: {}", kMessageName[step_], bare(written.error())));
  }
  ++step_;
  return out;
}

Result<std::vector<uint8_t>> Handshake::read_message(std::span<const uint8_t> message) {
  if (auto turn = check_turn(false); !turn) {
    return failed(turn.error().code(), turn.error().message());
  }
  const char* name = kMessageName[step_];
  size_t minimum = kFixedSize[step_];
  if (message.size() < minimum) {
    return failed(ErrorCode::kProtocol,
                  fmt::format("noise: {} has {} bytes, fewer than the {} it needs", name,
                              message.size(), minimum));
  }
  if (message.size() > kMaxMessage) {
    return failed(ErrorCode::kProtocol,
                  fmt::format("noise: {} has {} bytes, more than the {} allowed", name,
                              message.size(), kMaxMessage));
  }
  auto run = [&]() -> Result<std::vector<uint8_t>> {
    std::span<const uint8_t> in = message;
    if (step_ == 0 || step_ == 1) {  // e
      std::memcpy(re_.data(), in.data(), kKeySize);
      in = in.subspan(kKeySize);
      mix_hash(re_);
    }
    auto read_static = [&]() -> Status {
      auto rs = decrypt_and_hash(in.first(kKeySize + kTagSize));
      if (!rs) {
        return make_error(rs.error().code(),
                          fmt::format("remote static key: {}", bare(rs.error())));
      }
      std::memcpy(rs_.data(), rs->data(), kKeySize);
      in = in.subspan(kKeySize + kTagSize);
      return ok();
    };
    if (step_ == 1) {
      BZZZ_TRY(dh_into_key(e_.private_key, re_, "ee"));
      BZZZ_TRY(read_static());                           // s
      BZZZ_TRY(dh_into_key(e_.private_key, rs_, "es"));  // initiator: DH(e, rs)
    } else if (step_ == 2) {
      BZZZ_TRY(read_static());                           // s
      BZZZ_TRY(dh_into_key(e_.private_key, rs_, "se"));  // responder: DH(e, rs)
    }
    auto payload = decrypt_and_hash(in);
    if (!payload) {
      return make_error(payload.error().code(), fmt::format("payload: {}", bare(payload.error())));
    }
    return payload;
  };
  auto payload = run();
  if (!payload) {
    return failed(payload.error().code(),
                  fmt::format("noise: {}: {}", name, bare(payload.error())));
  }
  ++step_;
  return payload;
}

std::pair<CipherState, CipherState> Handshake::split() const {
  // A programmer error; keyless states would send plaintext, so stop rather than go on.
  if (!complete()) std::abort();
  auto [k1, k2] = hkdf2(ck_, {});
  CipherState cs1(k1), cs2(k2);
  sodium_memzero(k1.data(), k1.size());
  sodium_memzero(k2.data(), k2.size());
  if (role_ == Role::kInitiator) return {std::move(cs1), std::move(cs2)};
  return {std::move(cs2), std::move(cs1)};
}

// --- libp2p payload -----------------------------------------------------------------

std::vector<uint8_t> encode_payload(const Payload& payload) {
  pb::NoiseHandshakePayload message;
  message.set_identity_key(payload.identity_key.data(), payload.identity_key.size());
  message.set_identity_sig(payload.identity_sig.data(), payload.identity_sig.size());
  if (!payload.stream_muxers.empty()) {
    auto* extensions = message.mutable_extensions();
    for (const auto& muxer : payload.stream_muxers) extensions->add_stream_muxers(muxer);
  }
  std::vector<uint8_t> out(message.ByteSizeLong());
  message.SerializeWithCachedSizesToArray(out.data());
  return out;
}

Result<Payload> decode_payload(std::span<const uint8_t> bytes) {
  pb::NoiseHandshakePayload message;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("noise: handshake payload is malformed ({} bytes that are not a "
                                  "NoiseHandshakePayload protobuf)",
                                  bytes.size()));
  }
  if (!message.has_identity_key() || !message.has_identity_sig()) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("noise: handshake payload is malformed: it has no {}",
                                  message.has_identity_key() ? "identity_sig" : "identity_key"));
  }
  Payload payload;
  payload.identity_key.assign(message.identity_key().begin(), message.identity_key().end());
  payload.identity_sig.assign(message.identity_sig().begin(), message.identity_sig().end());
  if (message.has_extensions()) {
    const auto& muxers = message.extensions().stream_muxers();
    payload.stream_muxers.assign(muxers.begin(), muxers.end());
  }
  return payload;
}

namespace {
std::vector<uint8_t> signed_message(const Key& noise_static_public) {
  std::vector<uint8_t> message;
  message.reserve(kSignaturePrefix.size() + kKeySize);
  auto prefix = as_bytes(kSignaturePrefix);
  message.insert(message.end(), prefix.begin(), prefix.end());
  message.insert(message.end(), noise_static_public.begin(), noise_static_public.end());
  return message;
}
}  // namespace

Payload make_payload(const PrivateKey& identity, const Key& noise_static_public) {
  auto signature = identity.sign(signed_message(noise_static_public));
  Payload payload;
  payload.identity_key = identity.public_key().encode();
  payload.identity_sig.assign(signature.begin(), signature.end());
  return payload;
}

Result<std::pair<PeerId, PublicKey>> verify_payload(const Payload& payload,
                                                    const Key& remote_noise_static,
                                                    const std::optional<PeerId>& expected) {
  auto key = PublicKey::decode(payload.identity_key);
  if (!key) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("noise: remote identity key is malformed: {}",
                                  key.error().message()));
  }
  if (key->type != KeyType::kEd25519) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("noise: remote identity key has type {}; only Ed25519 (1) is "
                                  "supported",
                                  static_cast<int>(key->type)));
  }
  PeerId id = PeerId::from_public_key(*key);
  if (!key->verify(signed_message(remote_noise_static), payload.identity_sig)) {
    return make_error(ErrorCode::kPermission,
                      fmt::format("noise: identity signature of peer {} does not cover its Noise "
                                  "static key ({} signature bytes)",
                                  id.to_string(), payload.identity_sig.size()));
  }
  if (expected && id != *expected) {
    return make_error(ErrorCode::kPermission,
                      fmt::format("noise: remote peer id {} does not match the dialed {}",
                                  id.to_string(), expected->to_string()));
  }
  return std::pair{std::move(id), std::move(*key)};
}

// --- framing ------------------------------------------------------------------------

void append_frame_header(std::vector<uint8_t>& out, uint16_t length) {
  out.push_back(static_cast<uint8_t>(length >> 8));
  out.push_back(static_cast<uint8_t>(length & 0xff));
}

std::optional<std::span<const uint8_t>> take_frame(std::span<const uint8_t>& in) {
  if (in.size() < 2) return std::nullopt;
  size_t length = (size_t{in[0]} << 8) | in[1];
  if (in.size() < 2 + length) return std::nullopt;
  auto body = in.subspan(2, length);
  in = in.subspan(2 + length);
  return body;
}

}  // namespace bzzz::p2p::noise
