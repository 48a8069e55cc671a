// Pure pieces of the HTTP face: routing, path decoding and byte ranges.
#include <gtest/gtest.h>

#include "services/api/range.h"
#include "services/http/router.h"

namespace bzzz {
namespace {

using boost::beast::http::verb;

boost::asio::awaitable<void> nothing(http::Exchange&) { co_return; }

TEST(RouterTest, CapturesParamsNamesRoutesAndListsAllowedMethods) {
  http::Router r;
  r.add(verb::get, "/v1/blobs/{hash}", nothing);
  r.add(verb::post, "/v1/blobs", nothing);
  r.add(verb::get, "/v1/blobs", nothing);
  r.add(verb::get, "/v1/blobs/{hash}/meta", nothing);

  auto m = r.match(verb::get, "/v1/blobs/abc");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.route, "/v1/blobs/{hash}");
  EXPECT_EQ(m.params.at("hash"), "abc");

  auto head = r.match(verb::head, "/v1/blobs/abc");  // HEAD is served by GET
  EXPECT_NE(head.handler, nullptr);

  auto wrong = r.match(verb::delete_, "/v1/blobs/abc");
  EXPECT_EQ(wrong.handler, nullptr);
  EXPECT_EQ(wrong.allow, "GET, HEAD");
  EXPECT_EQ(wrong.route, "/v1/blobs/{hash}");  // metrics label a template, never a raw path

  auto none = r.match(verb::get, "/v2/nothing");
  EXPECT_EQ(none.handler, nullptr);
  EXPECT_TRUE(none.allow.empty());
  EXPECT_EQ(none.route, "other");

  EXPECT_NE(r.match(verb::get, "/v1/blobs/abc/meta").handler, nullptr);
  EXPECT_NE(r.match(verb::get, "//v1//blobs/").handler, nullptr);  // empty segments collapse
}

TEST(RouterTest, PathDecodingRefusesEscapesThatChangeTheShapeOfThePath) {
  EXPECT_EQ(http::decode_path("/a%20b"), "/a b");
  EXPECT_EQ(http::decode_path("/plain"), "/plain");
  EXPECT_FALSE(http::decode_path("/a%2Fb"));  // an encoded slash would make one segment two
  EXPECT_FALSE(http::decode_path("/a%00"));
  EXPECT_FALSE(http::decode_path("/a%zz"));
  EXPECT_FALSE(http::decode_path("/a%2"));
  EXPECT_FALSE(http::decode_path("/a%"));
}

TEST(RangeTest, ServesOneRangeClipsItsEndAndRefusesTheRest) {
  auto r = api::parse_range("bytes=0-99", 1000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->offset, 0u);
  EXPECT_EQ(r->length, 100u);
  r = api::parse_range("bytes=900-", 1000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->length, 100u);
  r = api::parse_range("bytes=-10", 1000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->offset, 990u);
  r = api::parse_range("bytes=-5000", 1000);  // a suffix longer than the body is all of it
  ASSERT_TRUE(r);
  EXPECT_EQ(r->offset, 0u);
  EXPECT_EQ(r->length, 1000u);
  r = api::parse_range("bytes=10-99999", 1000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->length, 990u);

  for (const char* bad : {"bytes=abc", "bytes=10-5", "bytes=1000-", "bytes=0-1,5-6", "items=0-1",
                          "bytes=-0", "bytes=", "bytes=1-2-3", "bytes=99999999999999999999999-"}) {
    auto refused = api::parse_range(bad, 1000);
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message().find(bad), std::string::npos) << refused.error().message();
  }
  EXPECT_FALSE(api::parse_range("bytes=0-", 0));  // nothing to serve from an empty blob
}

}  // namespace
}  // namespace bzzz
