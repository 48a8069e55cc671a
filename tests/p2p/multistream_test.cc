// multistream-select 1.0 messages on the wire.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/encoding/hex.h"
#include "p2p/multistream/codec.h"

namespace bzzz::p2p::mss {
namespace {

using ::testing::HasSubstr;

TEST(MultistreamTest, HeaderAndProposalsOnTheWire) {
  // 0x13 = 19 = "/multistream/1.0.0" (18) + '\n'
  EXPECT_EQ(hex_encode(message(kHeader)), "132f6d756c746973747265616d2f312e302e300a");
  EXPECT_EQ(hex_encode(message("/noise")), "072f6e6f6973650a");
  EXPECT_EQ(hex_encode(message(kNa)), "036e610a");
}

TEST(MultistreamTest, ReadsPipelinedMessagesAndWaitsForPartialOnes) {
  std::vector<uint8_t> wire;
  append_message(wire, kHeader);
  append_message(wire, "/yamux/1.0.0");
  wire.push_back(0x42);  // the first byte of whatever follows the negotiation
  std::span<const uint8_t> in(wire);
  auto a = read_message(in);
  ASSERT_TRUE(a && *a);
  EXPECT_EQ(**a, kHeader);
  auto b = read_message(in);
  ASSERT_TRUE(b && *b);
  EXPECT_EQ(**b, "/yamux/1.0.0");
  EXPECT_EQ(in.size(), 1u);  // trailing bytes are left for the next protocol

  auto whole = message("/ipfs/id/1.0.0");
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    std::span<const uint8_t> part(whole.data(), cut);
    auto r = read_message(part);
    ASSERT_TRUE(r) << cut;
    EXPECT_FALSE(r->has_value()) << cut;
    EXPECT_EQ(part.size(), cut);  // nothing consumed
  }
}

TEST(MultistreamTest, RefusesOversizedEmptyAndUnterminatedMessages) {
  std::vector<uint8_t> big;
  append_message(big, std::string(2000, 'a'));
  std::span<const uint8_t> in(big);
  auto r = read_message(in);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("2001 bytes"));
  std::vector<uint8_t> empty{0x00};
  in = empty;
  EXPECT_FALSE(read_message(in));
  std::vector<uint8_t> no_newline{0x03, 'n', 'a', 'x'};
  in = no_newline;
  auto n = read_message(in);
  ASSERT_FALSE(n);
  EXPECT_THAT(n.error().message(), HasSubstr("newline"));
}

TEST(MultistreamTest, LsAnswerRoundTrips) {
  std::vector<std::string> protos{"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"};
  auto wire = ls_response(protos);
  std::span<const uint8_t> in(wire);
  auto body = read_message(in);
  ASSERT_TRUE(body && *body);
  auto back = parse_ls_body(**body);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, protos);
}

}  // namespace
}  // namespace bzzz::p2p::mss
