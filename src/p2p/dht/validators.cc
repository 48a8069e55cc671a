#include "p2p/dht/validators.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/encoding/varint.h"
#include "p2p/proto/dht.pb.h"

namespace bzzz::p2p::dht {

namespace {

constexpr std::string_view kPkPrefix = "/pk/";
constexpr std::string_view kBzzzPrefix = "/bzzz/";
constexpr std::string_view kSigningDomain = "bzzz-record:";

std::span<const uint8_t> span_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Error invalid(std::string message) { return Error(ErrorCode::kInvalidArgument, std::move(message)); }

// The peer id and name of "/bzzz/<peer id>/<name>".
Result<std::pair<PeerId, std::string_view>> parse_bzzz_key(std::string_view key) {
  if (!key.starts_with(kBzzzPrefix)) return fail(invalid(fmt::format("dht: {} is not a /bzzz/ key", quoted(key))));
  std::string_view rest = key.substr(kBzzzPrefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return fail(invalid(fmt::format("dht: {} is not /bzzz/<peer id>/<name>", quoted(key))));
  }
  std::string_view id_text = rest.substr(0, slash);
  auto id = PeerId::parse(id_text);
  // One spelling per publisher: the key must use the base58 form.
  if (!id || id->to_string() != id_text) {
    return fail(invalid(fmt::format("dht: {} does not name a peer id in base58", quoted(key))));
  }
  return std::make_pair(std::move(*id), rest.substr(slash + 1));
}

}  // namespace

std::optional<std::string> namespace_of(std::string_view key) {
  if (key.size() < 3 || key.front() != '/') return std::nullopt;
  auto end = key.find('/', 1);
  if (end == std::string_view::npos || end == 1) return std::nullopt;
  return std::string(key.substr(1, end - 1));
}

Validators::Validators() {
  by_ns_.emplace("pk", pk_validator());
  by_ns_.emplace("bzzz", bzzz_validator());
}

void Validators::add(std::string ns, Validator validator) {
  std::lock_guard lock(mutex_);
  by_ns_[std::move(ns)] = std::move(validator);
}

bool Validators::has(std::string_view ns) const {
  std::lock_guard lock(mutex_);
  return by_ns_.find(ns) != by_ns_.end();
}

Result<Validator> Validators::find(std::string_view key) const {
  auto ns = namespace_of(key);
  if (!ns) return fail(invalid(fmt::format("dht: record key {} has no namespace (/ns/...)", quoted(key))));
  std::lock_guard lock(mutex_);
  auto it = by_ns_.find(*ns);
  if (it == by_ns_.end()) return fail(invalid(fmt::format("dht: no validator for namespace {}", quoted(*ns))));
  return it->second;
}

Status Validators::validate(std::string_view key, std::span<const uint8_t> value) const {
  BZZZ_ASSIGN_OR_RETURN(Validator v, find(key));
  return v.validate(key, value);
}

Result<size_t> Validators::select(std::string_view key, const std::vector<Bytes>& values) const {
  if (values.empty()) return make_error(ErrorCode::kInvalidArgument, "dht: no values to select from");
  BZZZ_ASSIGN_OR_RETURN(Validator v, find(key));
  size_t i = values.size() == 1 ? 0 : v.select(key, values);
  if (i >= values.size()) return make_error(ErrorCode::kInternal, "dht: a selector picked no value");
  return i;
}

// --- /pk/ ------------------------------------------------------------------------------

std::string pk_key(const PeerId& peer) {
  std::string key(kPkPrefix);
  key.append(peer.bytes().begin(), peer.bytes().end());
  return key;
}

Validator pk_validator() {
  Validator v;
  v.validate = [](std::string_view key, std::span<const uint8_t> value) -> Status {
    if (!key.starts_with(kPkPrefix) || key.size() == kPkPrefix.size()) {
      return fail(invalid("dht: a /pk/ key needs a peer id multihash"));
    }
    auto pk = PublicKey::decode(value);
    if (!pk) return fail(invalid(fmt::format("dht: /pk/ value is not a public key: {}", pk.error().message())));
    PeerId id = PeerId::from_public_key(*pk);
    auto want = span_of(key.substr(kPkPrefix.size()));
    if (!std::equal(id.bytes().begin(), id.bytes().end(), want.begin(), want.end())) {
      return fail(invalid("dht: the /pk/ value is the key of another peer"));
    }
    return ok();
  };
  v.select = [](std::string_view, const std::vector<Bytes>&) -> size_t { return 0; };
  return v;
}

// --- /bzzz/ ----------------------------------------------------------------------------

std::string bzzz_key(const PeerId& publisher, std::string_view name) {
  return fmt::format("{}{}/{}", kBzzzPrefix, publisher.to_string(), name);
}

Bytes bzzz_signing_payload(std::string_view key, std::span<const uint8_t> value, uint64_t seq) {
  Bytes out(kSigningDomain.begin(), kSigningDomain.end());
  varint_append(out, key.size());
  out.insert(out.end(), key.begin(), key.end());
  varint_append(out, value.size());
  out.insert(out.end(), value.begin(), value.end());
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(seq >> shift));
  return out;
}

Bytes encode_bzzz_record(const BzzzRecord& r) {
  pb::BzzzRecord pb;
  pb.set_value(r.value.data(), r.value.size());
  pb.set_seq(r.seq);
  auto pk = r.public_key.encode();
  pb.set_publickey(pk.data(), pk.size());
  pb.set_signature(r.signature.data(), r.signature.size());
  std::string s = pb.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

Result<BzzzRecord> decode_bzzz_record(std::span<const uint8_t> bytes) {
  pb::BzzzRecord pb;
  if (!pb.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return fail(invalid("dht: a /bzzz/ value that is not a BzzzRecord"));
  }
  auto pk = PublicKey::decode(span_of(pb.publickey()));
  if (!pk) return fail(invalid(fmt::format("dht: BzzzRecord public key: {}", pk.error().message())));
  BzzzRecord r;
  r.value.assign(pb.value().begin(), pb.value().end());
  r.seq = pb.seq();
  r.public_key = std::move(*pk);
  r.signature.assign(pb.signature().begin(), pb.signature().end());
  return r;
}

Bytes make_bzzz_record(const PrivateKey& key, std::string_view name, std::span<const uint8_t> value, uint64_t seq) {
  std::string k = bzzz_key(PeerId::from_public_key(key.public_key()), name);
  auto payload = bzzz_signing_payload(k, value, seq);
  auto sig = key.sign(payload);
  BzzzRecord r{Bytes(value.begin(), value.end()), seq, key.public_key(), Bytes(sig.begin(), sig.end())};
  return encode_bzzz_record(r);
}

Validator bzzz_validator() {
  Validator v;
  v.validate = [](std::string_view key, std::span<const uint8_t> value) -> Status {
    BZZZ_ASSIGN_OR_RETURN(auto parsed, parse_bzzz_key(key));
    BZZZ_ASSIGN_OR_RETURN(BzzzRecord r, decode_bzzz_record(value));
    if (!parsed.first.matches(r.public_key)) {
      return fail(invalid(fmt::format("dht: {} is signed by a key other than its peer's", quoted(key))));
    }
    auto payload = bzzz_signing_payload(key, r.value, r.seq);
    if (!r.public_key.verify(payload, r.signature)) {
      return fail(invalid(fmt::format("dht: the signature of {} does not verify", quoted(key))));
    }
    return ok();
  };
  v.select = [](std::string_view, const std::vector<Bytes>& values) -> size_t {
    size_t best = 0;
    uint64_t best_seq = 0;
    bool any = false;
    for (size_t i = 0; i < values.size(); ++i) {
      auto r = decode_bzzz_record(values[i]);
      if (!r) continue;
      if (!any || r->seq > best_seq) {
        best = i;
        best_seq = r->seq;
        any = true;
      }
    }
    return best;
  };
  return v;
}

}  // namespace bzzz::p2p::dht
