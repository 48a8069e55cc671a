#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/encoding/base32.h"
#include "base/encoding/base58.h"
#include "base/encoding/varint.h"
#include "base/encoding/hex.h"

namespace bzzz {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

TEST(HexTest, EncodesLowercase) {
  EXPECT_EQ(hex_encode(std::vector<uint8_t>{}), "");
  EXPECT_EQ(hex_encode(std::vector<uint8_t>{0x00, 0x01, 0xab, 0xff}), "0001abff");
}

TEST(HexTest, DecodesEitherCase) {
  auto lower = hex_decode("0001abff");
  auto upper = hex_decode("0001ABFF");
  ASSERT_TRUE(lower);
  ASSERT_TRUE(upper);
  EXPECT_EQ(*lower, (std::vector<uint8_t>{0x00, 0x01, 0xab, 0xff}));
  EXPECT_EQ(*upper, *lower);
}

TEST(HexTest, RoundTrips) {
  for (size_t n = 0; n < 70; ++n) {
    auto data = random_bytes(n, static_cast<uint32_t>(n));
    auto back = hex_decode(hex_encode(data));
    ASSERT_TRUE(back) << n;
    EXPECT_EQ(*back, data) << n;
  }
}

TEST(HexTest, RejectsBadInput) {
  auto odd = hex_decode("abc");
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(odd.error().message(), HasSubstr("odd length 3"));

  auto bad = hex_decode("00zz");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad.error().message(), HasSubstr("'z' at position 2"));
  EXPECT_THAT(hex_decode("000g").error().message(), HasSubstr("'g' at position 3"));
}

// RFC 4648 section 10, lowercased and without padding.
struct Base32Vector {
  const char* plain;
  const char* encoded;
};
constexpr Base32Vector kRfcVectors[] = {
    {"", ""},           {"f", "my"},          {"fo", "mzxq"},          {"foo", "mzxw6"},
    {"foob", "mzxw6yq"}, {"fooba", "mzxw6ytb"}, {"foobar", "mzxw6ytboi"},
};

TEST(Base32Test, RfcVectors) {
  for (const auto& v : kRfcVectors) {
    EXPECT_EQ(base32_encode(bytes_of(v.plain)), v.encoded) << v.plain;
    auto decoded = base32_decode(v.encoded);
    ASSERT_TRUE(decoded) << v.encoded;
    EXPECT_EQ(*decoded, bytes_of(v.plain));
  }
}

TEST(Base32Test, DecodesUpperAndMixedCase) {
  auto upper = base32_decode("MZXW6YTBOI");
  ASSERT_TRUE(upper);
  EXPECT_EQ(*upper, bytes_of("foobar"));
  auto mixed = base32_decode("mZxW6yTbOi");
  ASSERT_TRUE(mixed);
  EXPECT_EQ(*mixed, bytes_of("foobar"));
}

TEST(Base32Test, RoundTripsEveryLength) {
  for (size_t n = 0; n < 80; ++n) {
    auto data = random_bytes(n, static_cast<uint32_t>(1000 + n));
    std::string text = base32_encode(data);
    EXPECT_EQ(text.size(), (n * 8 + 4) / 5);
    auto back = base32_decode(text);
    ASSERT_TRUE(back) << n << " " << text;
    EXPECT_EQ(*back, data) << n;
  }
}

TEST(Base32Test, AllByteValues) {
  std::vector<uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(i);
  auto back = base32_decode(base32_encode(all));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, all);
}

TEST(Base32Test, RejectsBadCharactersWithPosition) {
  auto one = base32_decode("mzx16ytb");  // '1' is not in the alphabet (it looks like 'l')
  ASSERT_FALSE(one);
  EXPECT_EQ(one.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(one.error().message(), HasSubstr("'1' at position 3"));

  EXPECT_THAT(base32_decode("mzxw6y!b").error().message(), HasSubstr("'!' at position 6"));
  EXPECT_THAT(base32_decode(std::string("mzxw6y\nb")).error().message(),
              HasSubstr("byte 0x0a at position 6"));
  EXPECT_THAT(base32_decode("my======").error().message(), HasSubstr("padding"));
}

TEST(Base32Test, RejectsImpossibleLengths) {
  for (const char* text : {"m", "mzx", "mzxw6y", "mzxw6ytbo"}) {
    auto r = base32_decode(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(r.error().message(), HasSubstr("impossible length"));
  }
}

TEST(Base32Test, RejectsNonCanonicalTrailingBits) {
  // "my" is 'f'; "mz" carries the same byte plus a set bit that encodes nothing.
  auto r = base32_decode("mz");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("position 1"));
  EXPECT_THAT(r.error().message(), HasSubstr("unused bits"));
  EXPECT_FALSE(base32_decode("mzxw6yr"));  // canonical is "mzxw6yq"
}

// --- varint (multiformats unsigned-varint spec examples) -------------------------------

TEST(VarintTest, SpecExamplesEncodeAndDecode) {
  struct Case {
    uint64_t value;
    std::vector<uint8_t> bytes;
  };
  for (const auto& c : std::vector<Case>{{1, {0x01}},
                                         {127, {0x7f}},
                                         {128, {0x80, 0x01}},
                                         {255, {0xff, 0x01}},
                                         {300, {0xac, 0x02}},
                                         {16384, {0x80, 0x80, 0x01}},
                                         {0x01a5, {0xa5, 0x03}},  // the multiaddr code of p2p
                                         {0, {0x00}}}) {
    std::vector<uint8_t> out;
    varint_append(out, c.value);
    EXPECT_EQ(out, c.bytes) << c.value;
    EXPECT_EQ(varint_size(c.value), c.bytes.size());
    std::span<const uint8_t> in(c.bytes);
    auto back = varint_read(in);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, c.value);
    EXPECT_TRUE(in.empty());
  }
}

TEST(VarintTest, RefusesOverlongTruncatedAndNonMinimalInput) {
  std::vector<uint8_t> non_minimal{0x81, 0x00};
  std::span<const uint8_t> in(non_minimal);
  auto r = varint_read(in);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), testing::HasSubstr("minimal"));

  std::vector<uint8_t> truncated{0x80, 0x80};
  in = truncated;
  auto t = varint_try_read(in);
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->has_value());  // a stream may still deliver the rest
  EXPECT_FALSE(varint_read(in));

  std::vector<uint8_t> too_long(10, 0x80);
  in = too_long;
  EXPECT_FALSE(varint_try_read(in));
}

// --- base58btc ------------------------------------------------------------------------

TEST(Base58Test, KnownVectorsAndLeadingZeros) {
  auto bytes = [](std::string_view s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  EXPECT_EQ(base58_encode(bytes("Hello World!")), "2NEpo7TZRRrLZSi2U");
  EXPECT_EQ(base58_encode(bytes("The quick brown fox jumps over the lazy dog.")),
            "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z");
  EXPECT_EQ(base58_encode(std::vector<uint8_t>{0x00, 0x00, 0x28, 0x7f, 0xb4, 0xcd}), "11233QC4");
  EXPECT_EQ(base58_encode({}), "");
  // The peer id of the Ed25519 key from seed 00..01 (libp2p peer-ids spec, js-generated).
  auto id = hex_decode("0024080112204cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29");
  ASSERT_TRUE(id);
  EXPECT_EQ(base58_encode(*id), "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp");
  auto back = base58_decode("12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, *id);
  auto zeros = base58_decode("11233QC4");
  ASSERT_TRUE(zeros);
  EXPECT_EQ(*zeros, (std::vector<uint8_t>{0x00, 0x00, 0x28, 0x7f, 0xb4, 0xcd}));
}

TEST(Base58Test, RefusesCharactersOutsideTheAlphabetNamingThePosition) {
  for (std::string_view bad : {"12D3KooW0", "abcOdef", "Il", "abc def"}) {
    auto r = base58_decode(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_THAT(r.error().message(), testing::HasSubstr("position")) << bad;
  }
}

}  // namespace
}  // namespace bzzz
