#include "coord/messages/envelope.h"

#include <limits>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace bzzz::coord {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxTypeBytes = 128;

tl::unexpected<EnvelopeError> fault(EnvelopeFault f, std::string message) {
  return tl::unexpected<EnvelopeError>(EnvelopeError{f, std::move(message)});
}

// nlohmann parses iteratively but dumps and compares recursively: a deep `data` must
// be refused before it reaches an encoder. Counts brackets outside strings; anything
// malformed is left for the parser to report.
bool nesting_within(std::span<const uint8_t> bytes, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint8_t c = bytes[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

// A JSON value as an error message shows it: scalars as they are, the rest quoted
// and cut (they may be long or hostile).
std::string shown(const Json& value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (value.is_number() || value.is_boolean() || value.is_null()) return text;
  return bzzz::quoted(text);
}

std::string_view kind_of(const Json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a non-integer number";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_null()) return "null";
  if (value.is_array()) return "an array";
  return "an object";
}

// An integer field's value in [min, max], or nullopt. Integer JSON only: Go's decoder
// refuses "1.0" and "1e0" for an int field.
std::optional<int> small_int(const Json& value, int min) {
  if (value.is_number_unsigned()) {
    auto v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int>::max())) return std::nullopt;
    if (static_cast<int>(v) < min) return std::nullopt;
    return static_cast<int>(v);
  }
  if (value.is_number_integer()) {
    auto v = value.get<int64_t>();
    if (v < min || v > std::numeric_limits<int>::max()) return std::nullopt;
    return static_cast<int>(v);
  }
  return std::nullopt;
}

// Go's encoder escapes these inside strings (HTML safety and JavaScript line
// terminators); outside strings JSON has none of them, so one pass over the whole
// text is exact.
void go_escape(std::string& text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < text.size() && text[i + 1] == '\x80' &&
               (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
      out += text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  text = std::move(out);
}

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

Timestamp Timestamp::at(TimePoint time) { return Timestamp{time, format_rfc3339(time)}; }

Result<Timestamp> Timestamp::parse(std::string_view text) {
  BZZZ_ASSIGN_OR_RETURN(auto time, parse_rfc3339(text));
  return Timestamp{time, std::string(text)};
}

Envelope make_envelope(MessageType type, const p2p::PeerId& from, Json data, TimePoint now) {
  Envelope envelope;
  envelope.type = std::string(type_name(type));
  envelope.from = from.to_string();
  envelope.timestamp = Timestamp::at(now);
  envelope.data = data.is_null() ? Json::object() : std::move(data);
  return envelope;
}

std::string_view fault_label(EnvelopeFault f) {
  switch (f) {
    case EnvelopeFault::kTooLarge: return "too_large";
    case EnvelopeFault::kNotJson: return "not_json";
    case EnvelopeFault::kNotObject: return "not_object";
    case EnvelopeFault::kBadType: return "bad_type";
    case EnvelopeFault::kBadFrom: return "bad_from";
    case EnvelopeFault::kBadTimestamp: return "bad_timestamp";
    case EnvelopeFault::kBadData: return "bad_data";
    case EnvelopeFault::kBadHopCount: return "bad_hop_count";
    case EnvelopeFault::kBadVersion: return "bad_version";
  }
  return "unknown";
}

tl::expected<Envelope, EnvelopeError> decode_envelope(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxEnvelopeBytes) {
    return fault(EnvelopeFault::kTooLarge, fmt::format("envelope of {} bytes is over the {} byte limit",
                                                       bytes.size(), kMaxEnvelopeBytes));
  }
  if (!nesting_within(bytes, kMaxJsonDepth)) {
    return fault(EnvelopeFault::kNotJson,
                 fmt::format("envelope JSON nests deeper than {} levels", kMaxJsonDepth));
  }
  Json root;
  try {
    root = Json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    root = Json(Json::value_t::discarded);
  }
  if (root.is_discarded()) return fault(EnvelopeFault::kNotJson, "envelope is not JSON (or not UTF-8)");
  if (!root.is_object()) {
    return fault(EnvelopeFault::kNotObject, fmt::format("envelope is {}, not an object", kind_of(root)));
  }

  Envelope envelope;
  auto field = [&](std::string_view name) -> const Json* {
    auto it = root.find(name);
    return it == root.end() ? nullptr : &*it;
  };

  const Json* type = field("type");
  if (type == nullptr) return fault(EnvelopeFault::kBadType, "envelope has no \"type\"");
  if (!type->is_string()) {
    return fault(EnvelopeFault::kBadType, fmt::format("envelope \"type\" is {}, not a string", kind_of(*type)));
  }
  envelope.type = type->get<std::string>();
  if (envelope.type.empty() || envelope.type.size() > kMaxTypeBytes) {
    return fault(EnvelopeFault::kBadType,
                 fmt::format("envelope \"type\" {} is empty or over {} bytes", shown(*type), kMaxTypeBytes));
  }

  const Json* from = field("from");
  if (from == nullptr) return fault(EnvelopeFault::kBadFrom, "envelope has no \"from\"");
  if (!from->is_string()) {
    return fault(EnvelopeFault::kBadFrom, fmt::format("envelope \"from\" is {}, not a string", kind_of(*from)));
  }
  envelope.from = from->get<std::string>();
  if (auto id = p2p::PeerId::parse(envelope.from); !id) {
    return fault(EnvelopeFault::kBadFrom,
                 fmt::format("envelope \"from\" is not a peer id: {}", id.error().message()));
  }

  const Json* timestamp = field("timestamp");
  if (timestamp == nullptr) return fault(EnvelopeFault::kBadTimestamp, "envelope has no \"timestamp\"");
  if (!timestamp->is_string()) {
    return fault(EnvelopeFault::kBadTimestamp,
                 fmt::format("envelope \"timestamp\" is {}, not a string", kind_of(*timestamp)));
  }
  auto parsed_time = Timestamp::parse(timestamp->get_ref<const std::string&>());
  if (!parsed_time) {
    return fault(EnvelopeFault::kBadTimestamp,
                 fmt::format("envelope \"timestamp\": {}", parsed_time.error().message()));
  }
  envelope.timestamp = std::move(*parsed_time);

  // Go writes a nil map as null and its decoder leaves a missing field nil: both are {}.
  if (const Json* data = field("data"); data != nullptr && !data->is_null()) {
    if (!data->is_object()) {
      return fault(EnvelopeFault::kBadData,
                   fmt::format("envelope \"data\" is {}, not an object", kind_of(*data)));
    }
    envelope.data = std::move(root["data"]);
  }

  if (const Json* hops = field("hop_count"); hops != nullptr && !hops->is_null()) {
    auto value = small_int(*hops, 0);
    if (!value) {
      return fault(EnvelopeFault::kBadHopCount,
                   fmt::format("envelope \"hop_count\" {} is not an integer from 0 to {}", shown(*hops),
                               std::numeric_limits<int>::max()));
    }
    envelope.hop_count = *value;
  }

  if (const Json* version = field("version"); version != nullptr && !version->is_null()) {
    auto value = small_int(*version, 1);
    if (!value) {
      return fault(EnvelopeFault::kBadVersion,
                   fmt::format("envelope \"version\" {} is not an integer of at least 1", shown(*version)));
    }
    envelope.version = *value;
  }
  return envelope;
}

Result<Envelope> parse_envelope(std::span<const uint8_t> bytes) {
  auto decoded = decode_envelope(bytes);
  if (decoded) return std::move(*decoded);
  const auto& e = decoded.error();
  return make_error(e.fault == EnvelopeFault::kTooLarge ? ErrorCode::kTooLarge : ErrorCode::kInvalidArgument,
                    fmt::format("{}: {}", fault_label(e.fault), e.message));
}

std::string encode_envelope_text(const Envelope& envelope) {
  std::string out = "{\"type\":";
  out += dump(Json(envelope.type));
  out += ",\"from\":";
  out += dump(Json(envelope.from));
  out += ",\"timestamp\":";
  out += dump(Json(envelope.timestamp.text.empty() ? format_rfc3339(envelope.timestamp.time)
                                                   : envelope.timestamp.text));
  out += ",\"data\":";
  out += envelope.data.is_null() ? std::string("{}") : dump(envelope.data);
  if (envelope.hop_count != 0) out += fmt::format(",\"hop_count\":{}", envelope.hop_count);
  out += fmt::format(",\"version\":{}}}", envelope.version);
  go_escape(out);
  return out;
}

std::vector<uint8_t> encode_envelope(const Envelope& envelope) {
  std::string text = encode_envelope_text(envelope);
  return std::vector<uint8_t>(text.begin(), text.end());
}

bool should_relay(const Envelope& envelope) {
  return is_meta_discussion(envelope.kind()) && envelope.hop_count >= 0 &&
         envelope.hop_count < kMaxHops;
}

Envelope relayed(Envelope envelope, const p2p::PeerId& relayer) {
  envelope.hop_count += 1;
  envelope.from = relayer.to_string();
  return envelope;
}

}  // namespace bzzz::coord
