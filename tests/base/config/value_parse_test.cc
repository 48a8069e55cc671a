#include "base/config/value_parse.h"

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bzzz::config {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// The message of a failed parse; fails the test if the parse succeeded.
template <typename T>
std::string error_of(const Result<T>& result) {
  EXPECT_FALSE(result.has_value());
  return result ? std::string() : result.error().message();
}

TEST(ParseBool, AcceptsTheUsualSpellingsInAnyCase) {
  for (const char* yes : {"true", "TRUE", "yes", "Yes", "on", "ON", "1", " true "}) {
    ASSERT_TRUE(parse_bool(yes).has_value()) << yes;
    EXPECT_TRUE(*parse_bool(yes)) << yes;
  }
  for (const char* no : {"false", "False", "no", "NO", "off", "Off", "0"}) {
    ASSERT_TRUE(parse_bool(no).has_value()) << no;
    EXPECT_FALSE(*parse_bool(no)) << no;
  }
}

TEST(ParseBool, RejectsAnythingElseNamingTheChoices) {
  EXPECT_EQ(error_of(parse_bool("maybe")),
            "\"maybe\" is not a boolean (true/false, yes/no, on/off, 1/0)");
  EXPECT_EQ(parse_bool("").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(parse_bool("2").has_value());
  EXPECT_FALSE(parse_bool("y").has_value());
}

TEST(ParseInt, ReadsSignedDecimals) {
  EXPECT_EQ(*parse_int("0"), 0);
  EXPECT_EQ(*parse_int("42"), 42);
  EXPECT_EQ(*parse_int("+42"), 42);
  EXPECT_EQ(*parse_int("-17"), -17);
  EXPECT_EQ(*parse_int(" 8 "), 8);
  EXPECT_EQ(*parse_int("9223372036854775807"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(*parse_int("-9223372036854775808"), std::numeric_limits<int64_t>::min());
}

TEST(ParseInt, RejectsNonDecimalsAndOverflow) {
  EXPECT_EQ(error_of(parse_int("12abc")), "\"12abc\" is not an integer");
  EXPECT_EQ(error_of(parse_int("9223372036854775808")),
            "\"9223372036854775808\" is not an integer: out of the 64-bit range");
  for (const char* bad : {"", "-", "+", "1.5", "0x10", "1e3", "--1", "+-1", "1 2"}) {
    EXPECT_FALSE(parse_int(bad).has_value()) << bad;
  }
}

TEST(ParseDouble, ReadsDecimalAndExponentForms) {
  EXPECT_DOUBLE_EQ(*parse_double("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_double("-2"), -2.0);
  EXPECT_DOUBLE_EQ(*parse_double("+1.25"), 1.25);
  EXPECT_DOUBLE_EQ(*parse_double("1e3"), 1000.0);
  EXPECT_DOUBLE_EQ(*parse_double(".5"), 0.5);
}

TEST(ParseDouble, RejectsNonNumbersInfinityAndNan) {
  EXPECT_EQ(error_of(parse_double("fast")), "\"fast\" is not a number");
  EXPECT_EQ(error_of(parse_double("1e999")), "\"1e999\" is not a number: out of range");
  for (const char* bad : {"", "inf", "nan", "-inf", "1.2.3", "1e", "0x1p3", "."}) {
    EXPECT_FALSE(parse_double(bad).has_value()) << bad;
  }
}

TEST(ParseDuration, ReadsEveryUnitAndFractions) {
  EXPECT_EQ(*parse_duration("250ms"), 250ms);
  EXPECT_EQ(*parse_duration("30s"), 30s);
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("5m"), 5min);
  EXPECT_EQ(*parse_duration("2h"), 2h);
  EXPECT_EQ(*parse_duration("100us"), 100us);
  EXPECT_EQ(*parse_duration("100\xC2\xB5s"), 100us);
  EXPECT_EQ(*parse_duration("10ns"), 10ns);
  EXPECT_EQ(*parse_duration("0.1s"), 100ms);
  EXPECT_EQ(*parse_duration("0"), 0ns);
  EXPECT_EQ(*parse_duration("0s"), 0ns);
}

TEST(ParseDuration, RequiresAUnitAndRejectsNegativesAndOverflow) {
  EXPECT_EQ(error_of(parse_duration("30")),
            "\"30\" is not a duration (like 250ms, 1.5s, 5m, 2h): a unit is required (ns, us, "
            "ms, s, m or h)");
  EXPECT_THAT(error_of(parse_duration("-5s")), HasSubstr("negative"));
  EXPECT_THAT(error_of(parse_duration("5 days")), HasSubstr("unknown unit"));
  EXPECT_THAT(error_of(parse_duration("9999999999h")), HasSubstr("too long"));
  for (const char* bad : {"", "s", "1.s", "abc", "1h30m", "5M"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(ParseBytes, ReadsBinaryAndDecimalUnits) {
  EXPECT_EQ(*parse_bytes("4096"), 4096u);
  EXPECT_EQ(*parse_bytes("64KiB"), 64u << 10);
  EXPECT_EQ(*parse_bytes("64MiB"), 64u << 20);
  EXPECT_EQ(*parse_bytes("1GiB"), 1ull << 30);
  EXPECT_EQ(*parse_bytes("2TiB"), 2ull << 40);
  EXPECT_EQ(*parse_bytes("64K"), 64u << 10);
  EXPECT_EQ(*parse_bytes("64M"), 64u << 20);
  EXPECT_EQ(*parse_bytes("1G"), 1ull << 30);
  EXPECT_EQ(*parse_bytes("1KB"), 1000u);
  EXPECT_EQ(*parse_bytes("1MB"), 1000u * 1000);
  EXPECT_EQ(*parse_bytes("1GB"), 1000ull * 1000 * 1000);
  EXPECT_EQ(*parse_bytes("1.5GiB"), 3ull << 29);
  EXPECT_EQ(*parse_bytes("16 kib"), 16u << 10);
  EXPECT_EQ(*parse_bytes("0"), 0u);
}

TEST(ParseBytes, RejectsUnknownUnitsFractionsOfBytesAndOverflow) {
  EXPECT_EQ(error_of(parse_bytes("12 apples")),
            "\"12 apples\" is not a size (like 4096, 64KiB, 1.5GiB, 1GB): unknown unit (use "
            "B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)");
  EXPECT_THAT(error_of(parse_bytes("1.5")), HasSubstr("a fraction of a byte"));
  EXPECT_THAT(error_of(parse_bytes("-1K")), HasSubstr("negative"));
  EXPECT_THAT(error_of(parse_bytes("16384PiB")), HasSubstr("too large for 64 bits"));
  EXPECT_THAT(error_of(parse_bytes("99999999999999999999")), HasSubstr("too large"));
  for (const char* bad : {"", "KiB", "1..5K", "0x10"}) {
    EXPECT_FALSE(parse_bytes(bad).has_value()) << bad;
  }
}

TEST(ParseHostPort, ReadsNamesIpv4AndBracketedIpv6) {
  auto v4 = parse_host_port("127.0.0.1:8080");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);

  auto v6 = parse_host_port("[::1]:8080");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8080);

  auto any = parse_host_port("localhost:0");
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->host, "localhost");
  EXPECT_EQ(any->port, 0);

  EXPECT_EQ(parse_host_port("0.0.0.0:65535")->port, 65535);
}

TEST(ParseHostPort, SaysWhatIsMissingOrWrong) {
  EXPECT_EQ(error_of(parse_host_port("abc")), "\"abc\" is not host:port: missing :port");
  EXPECT_THAT(error_of(parse_host_port(":8080")), HasSubstr("missing host"));
  EXPECT_THAT(error_of(parse_host_port("[]:8080")), HasSubstr("missing host"));
  EXPECT_THAT(error_of(parse_host_port("host:65536")), HasSubstr("from 0 to 65535"));
  EXPECT_THAT(error_of(parse_host_port("host:http")), HasSubstr("from 0 to 65535"));
  EXPECT_THAT(error_of(parse_host_port("host:")), HasSubstr("from 0 to 65535"));
  EXPECT_THAT(error_of(parse_host_port("::1:8080")), HasSubstr("needs brackets"));
  EXPECT_THAT(error_of(parse_host_port("[::1:8080")), HasSubstr("missing ']'"));
  EXPECT_THAT(error_of(parse_host_port("[::1]8080")), HasSubstr("missing :port"));
  EXPECT_THAT(error_of(parse_host_port("my host:80")), HasSubstr("host"));
}

TEST(SplitList, TrimsItemsAndDropsEmptyOnes) {
  EXPECT_THAT(split_list("a,b,c"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(split_list(" a , b ,, c ,"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(split_list("one"), ElementsAre("one"));
  EXPECT_THAT(split_list(""), IsEmpty());
  EXPECT_THAT(split_list(" , ,"), IsEmpty());
}

TEST(QuoteValue, EscapesControlCharactersAndCapsLength) {
  EXPECT_EQ(quote_value("plain"), "\"plain\"");
  EXPECT_EQ(quote_value("a\"b\\c\n"), "\"a\\\"b\\\\c\\x0a\"");
  std::string shown = quote_value(std::string(500, 'x'));
  EXPECT_LT(shown.size(), 100u);
  EXPECT_THAT(shown, StartsWith("\"xxx"));
  EXPECT_THAT(shown, HasSubstr("...\""));
}

}  // namespace
}  // namespace bzzz::config
