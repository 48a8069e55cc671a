// Multiaddrs in text and binary form, with the spec's vectors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/encoding/hex.h"
#include "p2p/multiaddr/multiaddr.h"

namespace bzzz::p2p {
namespace {

using ::testing::HasSubstr;

TEST(MultiaddrTest, TextAndBinaryVectors) {
  struct Case {
    const char* text;
    const char* hex;
  };
  for (const auto& c : std::vector<Case>{
           {"/ip4/127.0.0.1/tcp/4001", "047f000001060fa1"},
           {"/ip4/127.0.0.1/udp/1234", "047f000001910204d2"},
           {"/ip6/::1/tcp/9000", "2900000000000000000000000000000001062328"},
           {"/dns4/example.com/tcp/443", "360b6578616d706c652e636f6d0601bb"},
           {"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp",
            "047f000001060fa1a503260024080112204cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29"},
       }) {
    auto m = Multiaddr::parse(c.text);
    ASSERT_TRUE(m) << c.text << ": " << m.error().message();
    EXPECT_EQ(hex_encode(m->to_bytes()), c.hex) << c.text;
    EXPECT_EQ(m->to_string(), c.text);
    auto back = Multiaddr::from_bytes(*hex_decode(c.hex));
    ASSERT_TRUE(back) << c.hex;
    EXPECT_EQ(*back, *m);
  }
}

TEST(MultiaddrTest, PeerIdsEndpointsAndTheOldIpfsName) {
  auto m = Multiaddr::parse("/ip4/10.0.0.1/tcp/9000/ipfs/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->to_string(), "/ip4/10.0.0.1/tcp/9000/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp");
  ASSERT_TRUE(m->peer_id());
  EXPECT_EQ(m->peer_id()->to_string(), "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp");
  EXPECT_EQ(m->without_peer_id().to_string(), "/ip4/10.0.0.1/tcp/9000");
  EXPECT_EQ(m->without_peer_id().with_peer_id(*m->peer_id()), *m);
  auto ep = m->tcp_endpoint();
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "10.0.0.1");
  EXPECT_EQ(ep->port, 9000);
  EXPECT_FALSE(ep->needs_resolving);
  auto dns = Multiaddr::parse("/dns/bzzz.example/tcp/9000");
  ASSERT_TRUE(dns);
  EXPECT_TRUE(dns->tcp_endpoint()->needs_resolving);
  EXPECT_FALSE(Multiaddr::parse("/ip4/1.2.3.4/udp/5")->tcp_endpoint());
}

TEST(MultiaddrTest, BadTextAndBytesAreNamed) {
  for (const char* bad : {"", "ip4/1.2.3.4", "/ip4", "/ip4/1.2.3", "/ip4/1.2.3.4/tcp/65536", "/ip4/1.2.3.4/tcp/x",
                          "/quic/1", "/ip6/zz::1", "/p2p/notapeer", "//tcp/1"}) {
    auto r = Multiaddr::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_THAT(r.error().message(), HasSubstr("invalid multiaddr")) << bad;
  }
  auto unknown = Multiaddr::from_bytes(*hex_decode("cc03"));  // 0x1cc: not a protocol we know
  ASSERT_FALSE(unknown);
  EXPECT_THAT(unknown.error().message(), HasSubstr("0x1cc"));
  EXPECT_FALSE(Multiaddr::from_bytes(*hex_decode("047f0000")));    // truncated ip4
  EXPECT_FALSE(Multiaddr::from_bytes(*hex_decode("36ff01")));      // dns4 longer than the rest
  EXPECT_FALSE(Multiaddr::from_bytes(*hex_decode("a5030401020304")));  // p2p value is no peer id
  EXPECT_FALSE(Multiaddr::from_bytes({}));
}

}  // namespace
}  // namespace bzzz::p2p
