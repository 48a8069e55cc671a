// The libp2p mDNS records without sockets: the query we send, our response to a query,
// the peers found in responses shaped as js-libp2p and go-libp2p send them (TXT in the
// answers, or only in the additional records), and which addresses we advertise and dial.
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "p2p/mdns/discovery.h"

namespace bzzz::p2p::mdns {
namespace {

namespace asio = boost::asio;

// The id of the js test peer with seed 00...01 (tests/interop).
constexpr std::string_view kJsPeer = "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp";

Multiaddr ma(std::string_view text) {
  auto a = Multiaddr::parse(text);
  EXPECT_TRUE(a) << text;
  return *a;
}

PeerId js_peer() { return *PeerId::parse(kJsPeer); }

// Byte-level building, as a capture shows the packets (dns-packet, under js-libp2p's
// multicast-dns, writes names without compression).
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Bytes& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
  Bytes& u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v)); }
  Bytes& text(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& name(std::string_view dotted) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string_view::npos) dot = dotted.size();
      u8(static_cast<uint8_t>(dot - start)).text(dotted.substr(start, dot - start));
      start = dot + 1;
    }
    return u8(0);
  }
  Bytes& ptr(std::string_view owner, std::string_view target) {
    Bytes data;
    data.name(target);
    name(owner).u16(12).u16(1).u32(120).u16(static_cast<uint16_t>(data.b.size()));
    b.insert(b.end(), data.b.begin(), data.b.end());
    return *this;
  }
  Bytes& txt(std::string_view owner, const std::vector<std::string>& strings) {
    size_t len = 0;
    for (const auto& s : strings) len += 1 + s.size();
    name(owner).u16(16).u16(1).u32(120).u16(static_cast<uint16_t>(len));
    for (const auto& s : strings) u8(static_cast<uint8_t>(s.size())).text(s);
    return *this;
  }
};

const std::string kJsName = "k3xq9c2m7w1p0r8t5y6u4i3o2e1a9s8d7f6g5h4j3k2l1z0x9c8v7b6n5m4q3w2";  // 63 characters
const std::string kJsInstance = kJsName + "._p2p._udp.local";

dns::Message parsed(const std::vector<uint8_t>& bytes) {
  auto m = dns::parse(bytes);
  EXPECT_TRUE(m) << m.error().message();
  return m ? *m : dns::Message{};
}

TEST(MdnsDiscovery, JsQueryIsAServiceQuery) {
  Bytes q;
  q.u16(0).u16(0).u16(1).u16(0).u16(0).u16(0).name("_p2p._udp.local").u16(12).u16(1);
  EXPECT_TRUE(is_service_query(parsed(q.b)));
  // Our own query is the same bytes.
  EXPECT_EQ(build_query(), q.b);
  // ANY and other spellings of the name count; other names and responses do not.
  Bytes any;
  any.u16(0).u16(0).u16(1).u16(0).u16(0).u16(0).name("_P2P._udp.LOCAL").u16(255).u16(0x8001);
  EXPECT_TRUE(is_service_query(parsed(any.b)));
  Bytes other;
  other.u16(0).u16(0).u16(1).u16(0).u16(0).u16(0).name("_googlecast._tcp.local").u16(12).u16(1);
  EXPECT_FALSE(is_service_query(parsed(other.b)));
  Bytes a_question;
  a_question.u16(0).u16(0).u16(1).u16(0).u16(0).u16(0).name("_p2p._udp.local").u16(1).u16(1);
  EXPECT_FALSE(is_service_query(parsed(a_question.b)));
  Bytes response;
  response.u16(0).u16(0x8400).u16(1).u16(0).u16(0).u16(0).name("_p2p._udp.local").u16(12).u16(1);
  EXPECT_FALSE(is_service_query(parsed(response.b)));
}

TEST(MdnsDiscovery, JsResponseWithTxtInAnswers) {
  std::string a1 = "dnsaddr=/ip4/192.168.1.5/tcp/4001/p2p/" + std::string(kJsPeer);
  std::string a2 = "dnsaddr=/ip6/fd00::5/tcp/4001/p2p/" + std::string(kJsPeer);
  Bytes r;
  r.u16(0).u16(0x8400).u16(0).u16(3).u16(0).u16(0);
  r.ptr("_p2p._udp.local", kJsInstance).txt(kJsInstance, {a1}).txt(kJsInstance, {a2});
  auto content = peers_in_response(parsed(r.b), "ourname");
  EXPECT_FALSE(content.own);
  EXPECT_TRUE(content.problems.empty());
  ASSERT_EQ(content.peers.size(), 1u);
  EXPECT_EQ(content.peers[0].id, js_peer());
  EXPECT_EQ(content.peers[0].name, kJsInstance);
  EXPECT_EQ(content.peers[0].addrs,
            (std::vector<Multiaddr>{ma("/ip4/192.168.1.5/tcp/4001"), ma("/ip6/fd00::5/tcp/4001")}));
}

TEST(MdnsDiscovery, TxtOnlyInAdditionalRecords) {
  // The spec's shape: PTR answer; TXT (with SRV and A beside it) in the additional records.
  Bytes r;
  r.u16(0).u16(0x8400).u16(0).u16(1).u16(0).u16(3);
  r.ptr("_p2p._udp.local", kJsInstance);
  Bytes srv;
  srv.u16(0).u16(0).u16(4001).name("h.local");
  r.name(kJsInstance).u16(33).u16(1).u32(120).u16(static_cast<uint16_t>(srv.b.size()));
  r.b.insert(r.b.end(), srv.b.begin(), srv.b.end());
  r.txt(kJsInstance, {"dnsaddr=/ip4/10.1.2.3/tcp/4001/p2p/" + std::string(kJsPeer), "other=thing"});
  r.name("h.local").u16(1).u16(1).u32(120).u16(4).u8(10).u8(1).u8(2).u8(3);
  auto content = peers_in_response(parsed(r.b), "ourname");
  ASSERT_EQ(content.peers.size(), 1u);
  EXPECT_EQ(content.peers[0].addrs, std::vector<Multiaddr>{ma("/ip4/10.1.2.3/tcp/4001")});
}

TEST(MdnsDiscovery, TxtMustBelongToThePtrTarget) {
  Bytes r;
  r.u16(0).u16(0x8400).u16(0).u16(2).u16(0).u16(0);
  r.ptr("_p2p._udp.local", kJsInstance).txt("someoneelse._p2p._udp.local", {"dnsaddr=/ip4/10.1.2.3/tcp/1/p2p/" + std::string(kJsPeer)});
  EXPECT_TRUE(peers_in_response(parsed(r.b), "ourname").peers.empty());
  // No PTR at all (js ignores these too).
  Bytes no_ptr;
  no_ptr.u16(0).u16(0x8400).u16(0).u16(1).u16(0).u16(0);
  no_ptr.txt(kJsInstance, {"dnsaddr=/ip4/10.1.2.3/tcp/1/p2p/" + std::string(kJsPeer)});
  EXPECT_TRUE(peers_in_response(parsed(no_ptr.b), "ourname").peers.empty());
  // A PTR of another service.
  Bytes other;
  other.u16(0).u16(0x8400).u16(0).u16(2).u16(0).u16(0);
  other.ptr("_ipfs._udp.local", kJsInstance).txt(kJsInstance, {"dnsaddr=/ip4/10.1.2.3/tcp/1/p2p/" + std::string(kJsPeer)});
  EXPECT_TRUE(peers_in_response(parsed(other.b), "ourname").peers.empty());
}

TEST(MdnsDiscovery, BadDnsaddrsAreProblemsNotPeers) {
  Bytes r;
  r.u16(0).u16(0x8400).u16(0).u16(4).u16(0).u16(0);
  r.ptr("_p2p._udp.local", kJsInstance);
  r.txt(kJsInstance, {"dnsaddr=/ip4/999.1.1.1/tcp/1/p2p/" + std::string(kJsPeer)});
  r.txt(kJsInstance, {"dnsaddr=/ip4/10.0.0.1/tcp/1"});
  r.txt(kJsInstance, {"dnsaddr=/ip4/10.0.0.2/tcp/2/p2p/" + std::string(kJsPeer)});
  auto content = peers_in_response(parsed(r.b), "ourname");
  EXPECT_EQ(content.problems.size(), 2u);
  ASSERT_EQ(content.peers.size(), 1u);
  EXPECT_EQ(content.peers[0].addrs, std::vector<Multiaddr>{ma("/ip4/10.0.0.2/tcp/2")});
  bool named = false;
  for (const auto& p : content.problems) named |= p.find("has no /p2p/ peer id") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST(MdnsDiscovery, SeveralPeersInOneResponse) {
  auto other = PeerId::from_public_key(PrivateKey::generate().public_key());
  Bytes r;
  r.u16(0).u16(0x8400).u16(0).u16(4).u16(0).u16(0);
  r.ptr("_p2p._udp.local", "aaaa._p2p._udp.local").ptr("_p2p._udp.local", "bbbb._p2p._udp.local");
  r.txt("aaaa._p2p._udp.local", {"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/" + std::string(kJsPeer)});
  r.txt("BBBB._p2p._udp.local", {"dnsaddr=/ip4/10.0.0.2/tcp/2/p2p/" + other.to_string()});
  auto content = peers_in_response(parsed(r.b), "ourname");
  ASSERT_EQ(content.peers.size(), 2u);
  EXPECT_EQ(content.peers[0].id, js_peer());
  EXPECT_EQ(content.peers[1].id, other);
}

TEST(MdnsDiscovery, OurResponseToAQuery) {
  auto key = PrivateKey::generate();
  auto self = PeerId::from_public_key(key.public_key());
  std::string name = random_peer_name();
  auto addrs = advertised_addrs({ma("/ip4/127.0.0.1/tcp/9000"), ma("/ip4/192.168.7.2/tcp/9000"),
                                 ma("/ip4/203.0.113.9/tcp/9000"), ma("/dns4/example.com/tcp/9000")},
                                self);
  ASSERT_EQ(addrs.size(), 2u);
  auto bytes = build_response(name, addrs);
  ASSERT_TRUE(bytes) << bytes.error().message();
  auto m = parsed(*bytes);
  EXPECT_TRUE(m.is_response());
  EXPECT_EQ(m.flags, dns::kFlagResponse | dns::kFlagAuthoritative);
  EXPECT_TRUE(m.questions.empty());
  EXPECT_TRUE(m.additionals.empty());
  ASSERT_EQ(m.answers.size(), 3u);  // the PTR, then one TXT per address (all in the answers)
  EXPECT_EQ(m.answers[0].name, "_p2p._udp.local");
  EXPECT_EQ(m.answers[0].type, dns::Type::kPtr);
  EXPECT_EQ(m.answers[0].ptr, name + "._p2p._udp.local");
  EXPECT_EQ(m.answers[0].ttl, 120u);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(m.answers[i].type, dns::Type::kTxt);
    EXPECT_EQ(m.answers[i].name, name + "._p2p._udp.local");
    ASSERT_EQ(m.answers[i].txt.size(), 1u);
  }
  EXPECT_EQ(m.answers[1].txt[0], "dnsaddr=/ip4/127.0.0.1/tcp/9000/p2p/" + self.to_string());
  EXPECT_EQ(m.answers[2].txt[0], "dnsaddr=/ip4/192.168.7.2/tcp/9000/p2p/" + self.to_string());

  // Another node reading it finds us; we reading it know it is ours.
  auto found = peers_in_response(m, "somebodyelse");
  ASSERT_EQ(found.peers.size(), 1u);
  EXPECT_EQ(found.peers[0].id, self);
  EXPECT_EQ(found.peers[0].addrs, (std::vector<Multiaddr>{ma("/ip4/127.0.0.1/tcp/9000"), ma("/ip4/192.168.7.2/tcp/9000")}));
  auto mine = peers_in_response(m, name);
  EXPECT_TRUE(mine.own);
  EXPECT_TRUE(mine.peers.empty());

  // A one-shot (unicast) query gets its id and question back.
  auto unicast = build_response(name, addrs, 0x4242, true);
  ASSERT_TRUE(unicast);
  auto u = parsed(*unicast);
  EXPECT_EQ(u.id, 0x4242);
  ASSERT_EQ(u.questions.size(), 1u);
  EXPECT_EQ(u.questions[0].name, "_p2p._udp.local");
}

TEST(MdnsDiscovery, ResponseStaysWithinOneFrame) {
  auto self = PeerId::from_public_key(PrivateKey::generate().public_key());
  std::vector<Multiaddr> many;
  for (int i = 0; i < 40; ++i) many.push_back(ma("/ip4/10.0.0." + std::to_string(i) + "/tcp/9000/p2p/" + self.to_string()));
  auto bytes = build_response(random_peer_name(), many);
  ASSERT_TRUE(bytes);
  EXPECT_LE(bytes->size(), kMaxResponseBytes);
  auto m = parsed(*bytes);
  EXPECT_GT(m.answers.size(), 5u);
  EXPECT_LT(m.answers.size(), 41u);
}

TEST(MdnsDiscovery, PeerNames) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto n = random_peer_name();
    EXPECT_GE(n.size(), 32u);
    EXPECT_LE(n.size(), 63u);
    for (char c : n) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) << n;
    seen.insert(n);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(MdnsDiscovery, LanAddresses) {
  for (auto text : {"/ip4/127.0.0.1/tcp/1", "/ip4/10.9.8.7/tcp/1", "/ip4/172.16.0.1/tcp/1", "/ip4/172.31.255.1/tcp/1",
                    "/ip4/192.168.0.1/tcp/1", "/ip4/100.64.0.1/tcp/1", "/ip4/169.254.3.4/tcp/1", "/ip6/::1/tcp/1",
                    "/ip6/fd12::1/tcp/1", "/ip6/fc00::1/tcp/1"}) {
    EXPECT_TRUE(is_lan_address(ma(text))) << text;
  }
  for (auto text : {"/ip4/8.8.8.8/tcp/1", "/ip4/172.32.0.1/tcp/1", "/ip4/192.0.2.2/tcp/1", "/ip4/100.128.0.1/tcp/1",
                    "/ip6/2001:db8::1/tcp/1", "/ip6/fe80::1/tcp/1", "/dns4/localhost/tcp/1"}) {
    EXPECT_FALSE(is_lan_address(ma(text))) << text;
  }
}

TEST(MdnsDiscovery, AdvertisedAddrs) {
  auto self = PeerId::from_public_key(PrivateKey::generate().public_key());
  auto out = advertised_addrs({ma("/ip4/10.0.0.1/tcp/9000"), ma("/ip4/10.0.0.1/tcp/9000/p2p/" + self.to_string()),
                               ma("/ip4/10.0.0.2/tcp/9000/p2p/" + std::string(kJsPeer)), ma("/ip4/8.8.8.8/tcp/9000")},
                              self);
  EXPECT_EQ(out, std::vector<Multiaddr>{ma("/ip4/10.0.0.1/tcp/9000/p2p/" + self.to_string())});
  EXPECT_TRUE(advertised_addrs({}, self).empty());
}

TEST(MdnsDiscovery, DialableAddrs) {
  std::vector<Multiaddr> addrs{ma("/ip4/127.0.0.1/tcp/9000"), ma("/ip4/10.0.0.1/tcp/9000"),
                               ma("/ip4/10.0.0.2/tcp/9000"), ma("/ip4/10.0.0.2/udp/9000"),
                               ma("/ip6/fe80::1/tcp/9000"), ma("/ip4/10.0.0.1/tcp/9000")};
  auto remote = asio::ip::make_address("10.0.0.2");
  // From another machine: no loopback, the sender's own address first, no duplicates.
  EXPECT_EQ(dialable_addrs(addrs, remote, false),
            (std::vector<Multiaddr>{ma("/ip4/10.0.0.2/tcp/9000"), ma("/ip4/10.0.0.1/tcp/9000")}));
  // From this machine: loopback is fine.
  EXPECT_EQ(dialable_addrs(addrs, asio::ip::make_address("192.0.2.2"), true),
            (std::vector<Multiaddr>{ma("/ip4/127.0.0.1/tcp/9000"), ma("/ip4/10.0.0.1/tcp/9000"),
                                    ma("/ip4/10.0.0.2/tcp/9000")}));
  std::vector<Multiaddr> many;
  for (int i = 0; i < 40; ++i) many.push_back(ma("/ip4/10.0.1." + std::to_string(i) + "/tcp/1"));
  EXPECT_EQ(dialable_addrs(many, remote, false).size(), kMaxAddrsPerPeer);
}

}  // namespace
}  // namespace bzzz::p2p::mdns
