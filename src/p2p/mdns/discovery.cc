#include "p2p/mdns/discovery.h"

#include <algorithm>
#include <map>
#include <random>

#include <fmt/format.h>

namespace bzzz::p2p::mdns {

namespace asio = boost::asio;

namespace {

// The IP an address starts with (/ip4 or /ip6), if it does.
std::optional<asio::ip::address> leading_ip(const Multiaddr& addr) {
  const auto& cs = addr.components();
  if (cs.empty()) return std::nullopt;
  if (cs[0].proto == Proto::kIp4 && cs[0].value.size() == 4) {
    asio::ip::address_v4::bytes_type b;
    std::copy(cs[0].value.begin(), cs[0].value.end(), b.begin());
    return asio::ip::address_v4(b);
  }
  if (cs[0].proto == Proto::kIp6 && cs[0].value.size() == 16) {
    asio::ip::address_v6::bytes_type b;
    std::copy(cs[0].value.begin(), cs[0].value.end(), b.begin());
    asio::ip::address_v6 v6(b);
    if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6);
    return v6;
  }
  return std::nullopt;
}

bool in_v4(uint32_t ip, uint32_t net, int bits) { return (ip >> (32 - bits)) == (net >> (32 - bits)); }

bool is_v6_link_local(const asio::ip::address& ip) { return ip.is_v6() && ip.to_v6().is_link_local(); }

std::string service_instance(std::string_view peer_name) { return fmt::format("{}.{}", peer_name, kServiceName); }

}  // namespace

std::string random_peer_name() {
  static constexpr std::string_view kChars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  std::uniform_int_distribution<size_t> length(32, 63);
  std::uniform_int_distribution<size_t> pick(0, kChars.size() - 1);
  std::string name(length(rng), 'a');
  for (auto& c : name) c = kChars[pick(rng)];
  return name;
}

bool is_lan_address(const Multiaddr& addr) {
  auto ip = leading_ip(addr);
  if (!ip) return false;
  if (ip->is_loopback()) return true;
  if (ip->is_v4()) {
    uint32_t v = ip->to_v4().to_uint();
    return in_v4(v, 0x0A000000, 8) || in_v4(v, 0xAC100000, 12) || in_v4(v, 0xC0A80000, 16) ||
           in_v4(v, 0x64400000, 10) || in_v4(v, 0xA9FE0000, 16);
  }
  auto b = ip->to_v6().to_bytes();
  return (b[0] & 0xFE) == 0xFC;  // unique local fc00::/7 (link-local is left out: it needs a zone)
}

std::vector<Multiaddr> advertised_addrs(const std::vector<Multiaddr>& announced, const PeerId& self) {
  std::vector<Multiaddr> out;
  for (const auto& a : announced) {
    if (!is_lan_address(a)) continue;
    if (auto id = a.peer_id(); id && *id != self) continue;  // someone else's address
    Multiaddr full = a.without_peer_id().with_peer_id(self);
    if (kDnsaddrPrefix.size() + full.to_string().size() > 255) continue;  // a TXT string's limit
    if (std::find(out.begin(), out.end(), full) == out.end()) out.push_back(std::move(full));
  }
  return out;
}

std::vector<uint8_t> build_query() {
  dns::Message m;
  m.questions.push_back({std::string(kServiceName), dns::Type::kPtr, dns::kClassIn, false});
  return *dns::encode(m);  // a constant message: it always encodes
}

bool is_service_query(const dns::Message& m) {
  if (m.is_response()) return false;
  return std::any_of(m.questions.begin(), m.questions.end(), [](const dns::Question& q) {
    return (q.type == dns::Type::kPtr || q.type == dns::Type::kAny) && dns::same_name(q.name, kServiceName);
  });
}

Result<std::vector<uint8_t>> build_response(std::string_view peer_name, const std::vector<Multiaddr>& addrs,
                                            uint16_t id, bool echo_question) {
  dns::Message m;
  m.id = id;
  m.flags = dns::kFlagResponse | dns::kFlagAuthoritative;
  if (echo_question) m.questions.push_back({std::string(kServiceName), dns::Type::kPtr, dns::kClassIn, false});
  std::string instance = service_instance(peer_name);
  dns::Record ptr;
  ptr.name = std::string(kServiceName);
  ptr.type = dns::Type::kPtr;
  ptr.ttl = kRecordTtl;
  ptr.ptr = instance;
  m.answers.push_back(std::move(ptr));
  auto bytes = dns::encode(m);
  if (!bytes) return bytes;
  for (const auto& a : addrs) {
    dns::Record txt;
    txt.name = instance;
    txt.type = dns::Type::kTxt;
    txt.ttl = kRecordTtl;
    txt.txt.push_back(fmt::format("{}{}", kDnsaddrPrefix, a.to_string()));
    if (txt.txt.back().size() > 255) continue;
    m.answers.push_back(std::move(txt));
    auto next = dns::encode(m);
    if (!next || next->size() > kMaxResponseBytes) {
      m.answers.pop_back();  // did not fit: try the (perhaps shorter) next ones
      continue;
    }
    bytes = std::move(next);
  }
  return bytes;
}

ResponseContent peers_in_response(const dns::Message& m, std::string_view own_name) {
  ResponseContent out;
  if (!m.is_response()) return out;
  std::string own = service_instance(own_name);
  std::vector<std::string> targets;
  for (const auto& r : m.answers) {
    if (r.type != dns::Type::kPtr || !dns::same_name(r.name, kServiceName)) continue;
    if (!own_name.empty() && dns::same_name(r.ptr, own)) {
      out.own = true;
      continue;
    }
    bool seen = std::any_of(targets.begin(), targets.end(), [&](const std::string& t) { return dns::same_name(t, r.ptr); });
    if (!seen) targets.push_back(r.ptr);
  }
  for (const auto& target : targets) {
    std::map<PeerId, size_t> index;  // peer -> position in out.peers
    for (const auto* section : {&m.answers, &m.additionals}) {
      for (const auto& r : *section) {
        if (r.type != dns::Type::kTxt || !dns::same_name(r.name, target)) continue;
        for (const auto& s : r.txt) {
          if (s.size() < kDnsaddrPrefix.size() || s.compare(0, kDnsaddrPrefix.size(), kDnsaddrPrefix) != 0) continue;
          auto addr = Multiaddr::parse(std::string_view(s).substr(kDnsaddrPrefix.size()));
          if (!addr) {
            out.problems.push_back(fmt::format("{}: {}", quoted(target), addr.error().message()));
            continue;
          }
          auto id = addr->peer_id();
          if (!id) {
            out.problems.push_back(fmt::format("{}: {} has no /p2p/ peer id", quoted(target), quoted(addr->to_string())));
            continue;
          }
          auto it = index.find(*id);
          if (it == index.end()) {
            if (out.peers.size() >= kMaxPeersPerResponse) continue;
            it = index.emplace(*id, out.peers.size()).first;
            out.peers.push_back(FoundPeer{*id, target, {}});
          }
          auto& addrs = out.peers[it->second].addrs;
          Multiaddr plain = addr->without_peer_id();
          if (addrs.size() < kMaxAddrsPerPeer && std::find(addrs.begin(), addrs.end(), plain) == addrs.end()) {
            addrs.push_back(std::move(plain));
          }
        }
      }
    }
  }
  return out;
}

std::vector<Multiaddr> dialable_addrs(const std::vector<Multiaddr>& addrs, const asio::ip::address& sender,
                                      bool sender_is_local) {
  std::vector<Multiaddr> first, rest;
  for (const auto& a : addrs) {
    auto ep = a.tcp_endpoint();
    if (!ep) continue;
    auto ip = leading_ip(a);
    if (ip) {
      if (ip->is_loopback() && !sender_is_local) continue;
      if (is_v6_link_local(*ip)) continue;
    }
    Multiaddr plain = a.without_peer_id();
    if (std::find(first.begin(), first.end(), plain) != first.end() ||
        std::find(rest.begin(), rest.end(), plain) != rest.end()) {
      continue;
    }
    (ip && *ip == sender ? first : rest).push_back(std::move(plain));
  }
  first.insert(first.end(), rest.begin(), rest.end());
  if (first.size() > kMaxAddrsPerPeer) first.resize(kMaxAddrsPerPeer);
  return first;
}

}  // namespace bzzz::p2p::mdns
