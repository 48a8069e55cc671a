#include "base/crypto/hash.h"

#include <cctype>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/crypto/blake3.h"
#include "base/encoding/base32.h"
#include "base/encoding/hex.h"

namespace bzzz {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kEmptyHex[] = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
constexpr char kEmptyCid[] = "bafkr4ifpcne3t5pzugtkaqcn5i3nzskjtpfslsnnyejlpte2spfoihzsmi";
// BLAKE3 of the single byte 0x00.
constexpr char kOneHex[] = "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213";
// The same digest under other codecs / multihashes.
constexpr char kOneDagPb[] = "bafybeibnhlpn74i3mhyuzcdogwx2anttnxgypj2ne624cuicexiplexccm";
constexpr char kOneRawSha256[] = "bafkreibnhlpn74i3mhyuzcdogwx2anttnxgypj2ne624cuicexiplexccm";

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Appending rather than `"b" + ...` dodges a GCC 12 -Wrestrict false positive.
std::string cid_text(std::span<const uint8_t> bytes) {
  std::string out = "b";
  out += base32_encode(bytes);
  return out;
}

std::string error_of(std::string_view text) {
  auto r = Hash::parse(text);
  EXPECT_FALSE(r) << text;
  if (r) return "";
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  return r.error().message();
}

TEST(HashTest, ParsesHexEitherCase) {
  auto lower = Hash::parse(kEmptyHex);
  auto upper_case = Hash::parse(upper(kEmptyHex));
  ASSERT_TRUE(lower);
  ASSERT_TRUE(upper_case);
  EXPECT_EQ(*lower, *upper_case);
  EXPECT_EQ(lower->hex(), kEmptyHex);
  EXPECT_EQ(upper_case->hex(), kEmptyHex);
  EXPECT_EQ(lower->bytes()[0], 0xaf);
  EXPECT_EQ(lower->bytes()[31], 0x62);
}

TEST(HashTest, EmptyInputHashAndItsCid) {
  Hash empty = blake3({});
  EXPECT_EQ(empty.hex(), kEmptyHex);
  EXPECT_EQ(empty.cid(), kEmptyCid);
  EXPECT_THAT(empty.cid(), StartsWith("bafkr4i"));
  auto parsed = Hash::parse(kEmptyCid);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, empty);
}

TEST(HashTest, MultihashIsBlake3CodeLengthDigest) {
  Hash empty = blake3({});
  auto mh = empty.multihash();
  EXPECT_EQ(hex_encode(mh), std::string("1e20") + kEmptyHex);
}

TEST(HashTest, CidRoundTrips) {
  for (int i = 0; i < 50; ++i) {
    std::vector<uint8_t> input(static_cast<size_t>(i) * 37, static_cast<uint8_t>(i));
    Hash h = blake3(input);
    std::string cid = h.cid();
    EXPECT_EQ(cid.size(), 59u);
    EXPECT_THAT(cid, StartsWith("bafkr4i"));
    auto back = Hash::parse(cid);
    ASSERT_TRUE(back) << cid;
    EXPECT_EQ(*back, h);
    auto from_hex = Hash::parse(h.hex());
    ASSERT_TRUE(from_hex);
    EXPECT_EQ(*from_hex, h);
  }
}

TEST(HashTest, UpperCaseCidIsAccepted) {
  auto parsed = Hash::parse(upper(kEmptyCid));  // multibase 'B', base32 upper
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->hex(), kEmptyHex);
}

TEST(HashTest, FromBytes) {
  std::vector<uint8_t> raw(32, 7);
  auto h = Hash::from_bytes(raw);
  ASSERT_TRUE(h);
  std::string expected;
  for (int i = 0; i < 32; ++i) expected += "07";
  EXPECT_EQ(h->hex(), expected);
  auto short_one = Hash::from_bytes(std::vector<uint8_t>(31));
  ASSERT_FALSE(short_one);
  EXPECT_EQ(short_one.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(short_one.error().message(), HasSubstr("got 31"));
}

TEST(HashTest, OrderingAndHashing) {
  Hash a = blake3({});
  Hash b = *Hash::parse(kOneHex);
  EXPECT_NE(a, b);
  EXPECT_TRUE(b < a);  // 0x2d... < 0xaf...
  std::unordered_set<Hash, HashHasher> set{a, b, a};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(Hash(), *Hash::parse(std::string(64, '0')));
}

TEST(HashTest, RejectsWrongLength) {
  std::string msg = error_of(std::string(kEmptyHex).substr(0, 63));
  EXPECT_THAT(msg, HasSubstr("expected 64 hex digits or a CIDv1, got 63 characters"));
  EXPECT_THAT(msg, HasSubstr(fmt::format("\"{}\"", std::string_view(kEmptyHex).substr(0, 63))));
  EXPECT_THAT(error_of(std::string(kEmptyHex) + "0"), HasSubstr("got 65 characters"));
  EXPECT_THAT(error_of(""), HasSubstr("expected 64 hex digits or a CIDv1"));
}

TEST(HashTest, RejectsBadHexWithPosition) {
  std::string text = kEmptyHex;
  text[10] = 'x';
  std::string msg = error_of(text);
  EXPECT_THAT(msg, HasSubstr(text));
  EXPECT_THAT(msg, HasSubstr("'x' at position 10"));
}

TEST(HashTest, RejectsOtherCodecsAndMultihashes) {
  EXPECT_THAT(error_of(kOneDagPb), HasSubstr("not a raw CID (codec 0x70"));
  EXPECT_THAT(error_of(kOneRawSha256), HasSubstr("multihash is not blake3 (0x12"));
  EXPECT_THAT(error_of("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"),
              HasSubstr("CIDv0"));
}

TEST(HashTest, RejectsBrokenCids) {
  // A character outside base32 ('1'), positioned after the multibase prefix.
  std::string bad_char = kEmptyCid;
  bad_char[20] = '1';
  std::string msg = error_of(bad_char);
  EXPECT_THAT(msg, HasSubstr("not base32"));
  EXPECT_THAT(msg, HasSubstr("'1' at position 19"));

  std::vector<uint8_t> short_digest = {0x01, 0x55, 0x1e, 0x20};
  short_digest.resize(4 + 27, 0xaa);
  EXPECT_THAT(error_of(cid_text(short_digest)),
              HasSubstr("carries 27 digest bytes, expected 32"));

  std::vector<uint8_t> v2 = {0x02, 0x55, 0x1e, 0x20};
  v2.resize(36, 0);
  EXPECT_THAT(error_of(cid_text(v2)), HasSubstr("not a CIDv1 (version 2)"));

  std::vector<uint8_t> short_len = {0x01, 0x55, 0x1e, 0x10};
  short_len.resize(20, 0);
  EXPECT_THAT(error_of(cid_text(short_len)), HasSubstr("length is 16"));

  EXPECT_THAT(error_of("b"), HasSubstr("truncated"));
  EXPECT_THAT(error_of("bafkq"), HasSubstr("truncated"));
}

TEST(HashTest, LongInputIsTruncatedInMessage) {
  std::string huge(100000, 'z');
  std::string msg = error_of(huge);
  EXPECT_LT(msg.size(), 300u);
  EXPECT_THAT(msg, HasSubstr("...\""));
  EXPECT_THAT(msg, HasSubstr("got 100000 characters"));
}

TEST(HashTest, ControlCharactersAreEscaped) {
  std::string msg = error_of(std::string("ab\x1b[2Jcd"));
  EXPECT_THAT(msg, HasSubstr("\\x1b"));
  EXPECT_EQ(msg.find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace bzzz
