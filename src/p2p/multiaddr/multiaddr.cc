#include "p2p/multiaddr/multiaddr.h"

#include <arpa/inet.h>

#include <charconv>

#include <fmt/format.h>

#include "base/encoding/varint.h"

namespace bzzz::p2p {

namespace {

struct ProtoInfo {
  Proto proto;
  std::string_view name;
  int size;  // bytes of the value; -1: varint length-prefixed
};

constexpr ProtoInfo kProtos[] = {
    {Proto::kIp4, "ip4", 4},   {Proto::kTcp, "tcp", 2},    {Proto::kDns, "dns", -1},
    {Proto::kDns4, "dns4", -1}, {Proto::kDns6, "dns6", -1}, {Proto::kIp6, "ip6", 16},
    {Proto::kUdp, "udp", 2},   {Proto::kP2p, "p2p", -1},
};

const ProtoInfo* by_name(std::string_view name) {
  if (name == "ipfs") name = "p2p";  // the old name of p2p
  for (const auto& p : kProtos) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const ProtoInfo* by_code(uint64_t code) {
  for (const auto& p : kProtos) {
    if (static_cast<uint64_t>(p.proto) == code) return &p;
  }
  return nullptr;
}

Error bad(std::string_view text, const std::string& why) {
  return Error(ErrorCode::kInvalidArgument, fmt::format("invalid multiaddr {}: {}", quoted(text), why));
}

// Text value -> binary value.
Result<std::vector<uint8_t>> value_from_text(const ProtoInfo& p, std::string_view v, std::string_view all) {
  switch (p.proto) {
    case Proto::kIp4:
    case Proto::kIp6: {
      std::vector<uint8_t> out(p.size);
      std::string s(v);
      if (inet_pton(p.proto == Proto::kIp4 ? AF_INET : AF_INET6, s.c_str(), out.data()) != 1) {
        return fail(bad(all, fmt::format("{} is not an {} address", quoted(v), p.name)));
      }
      return out;
    }
    case Proto::kTcp:
    case Proto::kUdp: {
      unsigned port = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), port);
      if (ec != std::errc() || ptr != v.data() + v.size() || v.empty() || port > 65535) {
        return fail(bad(all, fmt::format("{} is not a {} port (0-65535)", quoted(v), p.name)));
      }
      return std::vector<uint8_t>{static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port)};
    }
    case Proto::kDns:
    case Proto::kDns4:
    case Proto::kDns6:
      if (v.empty() || v.size() > 255) return fail(bad(all, fmt::format("{} needs a host name", p.name)));
      return std::vector<uint8_t>(v.begin(), v.end());
    case Proto::kP2p: {
      auto id = PeerId::parse(v);
      if (!id) return fail(bad(all, id.error().message()));
      return id->bytes();
    }
  }
  return fail(bad(all, "unknown protocol"));
}

std::string value_to_text(Proto proto, const std::vector<uint8_t>& v) {
  switch (proto) {
    case Proto::kIp4:
    case Proto::kIp6: {
      char buf[INET6_ADDRSTRLEN] = {};
      inet_ntop(proto == Proto::kIp4 ? AF_INET : AF_INET6, v.data(), buf, sizeof buf);
      return buf;
    }
    case Proto::kTcp:
    case Proto::kUdp:
      return std::to_string((v[0] << 8) | v[1]);
    case Proto::kDns:
    case Proto::kDns4:
    case Proto::kDns6:
      return std::string(v.begin(), v.end());
    case Proto::kP2p:
      return PeerId::from_bytes(v)->to_string();  // checked when the address was made
  }
  return {};
}

}  // namespace

Result<Multiaddr> Multiaddr::parse(std::string_view text) {
  if (text.empty() || text.front() != '/') return fail(bad(text, "it must start with '/'"));
  Multiaddr out;
  std::string_view rest = text.substr(1);
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view name = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (name.empty()) {
      if (rest.empty()) break;  // a trailing '/'
      return fail(bad(text, "empty protocol name"));
    }
    const ProtoInfo* p = by_name(name);
    if (p == nullptr) return fail(bad(text, fmt::format("unknown protocol {}", quoted(name))));
    size_t next = rest.find('/');
    std::string_view value = rest.substr(0, next);
    if (rest.empty() || value.empty()) return fail(bad(text, fmt::format("{} needs a value", p->name)));
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    BZZZ_ASSIGN_OR_RETURN(auto bytes, value_from_text(*p, value, text));
    out.components_.push_back({p->proto, std::move(bytes)});
  }
  if (out.components_.empty()) return fail(bad(text, "no protocols"));
  return out;
}

Result<Multiaddr> Multiaddr::from_bytes(std::span<const uint8_t> bytes) {
  Multiaddr out;
  std::span<const uint8_t> in = bytes;
  auto bad_bytes = [](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("invalid binary multiaddr: {}", why));
  };
  while (!in.empty()) {
    auto code = varint_read(in);
    if (!code) return bad_bytes(code.error().message());
    const ProtoInfo* p = by_code(*code);
    if (p == nullptr) return bad_bytes(fmt::format("unknown protocol code {:#x}", *code));
    size_t size = 0;
    if (p->size >= 0) {
      size = static_cast<size_t>(p->size);
    } else {
      auto len = varint_read(in);
      if (!len) return bad_bytes(fmt::format("{}: {}", p->name, len.error().message()));
      size = static_cast<size_t>(*len);
    }
    if (size > in.size()) {
      return bad_bytes(fmt::format("{} value needs {} bytes, {} remain", p->name, size, in.size()));
    }
    std::vector<uint8_t> value(in.begin(), in.begin() + static_cast<ptrdiff_t>(size));
    in = in.subspan(size);
    if (p->proto == Proto::kP2p) {
      if (auto id = PeerId::from_bytes(value); !id) return bad_bytes(id.error().message());
    }
    if (p->size < 0 && p->proto != Proto::kP2p && value.empty()) return bad_bytes(fmt::format("empty {} name", p->name));
    out.components_.push_back({p->proto, std::move(value)});
  }
  if (out.components_.empty()) return bad_bytes("empty");
  return out;
}

std::string Multiaddr::to_string() const {
  std::string out;
  for (const auto& c : components_) {
    out += "/";
    out += by_code(static_cast<uint64_t>(c.proto))->name;
    out += "/";
    out += value_to_text(c.proto, c.value);
  }
  return out;
}

std::vector<uint8_t> Multiaddr::to_bytes() const {
  std::vector<uint8_t> out;
  for (const auto& c : components_) {
    varint_append(out, static_cast<uint64_t>(c.proto));
    if (by_code(static_cast<uint64_t>(c.proto))->size < 0) varint_append(out, c.value.size());
    out.insert(out.end(), c.value.begin(), c.value.end());
  }
  return out;
}

std::optional<PeerId> Multiaddr::peer_id() const {
  if (components_.empty() || components_.back().proto != Proto::kP2p) return std::nullopt;
  auto id = PeerId::from_bytes(components_.back().value);
  if (!id) return std::nullopt;
  return *id;
}

Multiaddr Multiaddr::without_peer_id() const {
  Multiaddr out = *this;
  if (!out.components_.empty() && out.components_.back().proto == Proto::kP2p) out.components_.pop_back();
  return out;
}

Multiaddr Multiaddr::with_peer_id(const PeerId& id) const {
  Multiaddr out = without_peer_id();
  out.components_.push_back({Proto::kP2p, id.bytes()});
  return out;
}

std::optional<Multiaddr::TcpEndpoint> Multiaddr::tcp_endpoint() const {
  if (components_.size() < 2 || components_[1].proto != Proto::kTcp) return std::nullopt;
  const auto& host = components_[0];
  uint16_t port = static_cast<uint16_t>((components_[1].value[0] << 8) | components_[1].value[1]);
  switch (host.proto) {
    case Proto::kIp4:
    case Proto::kIp6:
      return TcpEndpoint{value_to_text(host.proto, host.value), port, false};
    case Proto::kDns:
    case Proto::kDns4:
    case Proto::kDns6:
      return TcpEndpoint{value_to_text(host.proto, host.value), port, true};
    default:
      return std::nullopt;
  }
}

}  // namespace bzzz::p2p
