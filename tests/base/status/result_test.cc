#include "base/status/result.h"

#include <cerrno>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bzzz {
namespace {

using ::testing::HasSubstr;

TEST(ErrorTest, WrapPrefixesContextOutermostFirst) {
  Error inner(ErrorCode::kIo, "write temp file: short write");
  Error outer = inner.wrap("put /x");
  EXPECT_EQ(outer.code(), ErrorCode::kIo);
  EXPECT_EQ(outer.message(), "put /x: write temp file: short write");
  EXPECT_EQ(inner.message(), "write temp file: short write");  // the lvalue is untouched

  Error moved = Error(ErrorCode::kCorrupt, "bad checksum").wrap("read blob").wrap("get");
  EXPECT_EQ(moved.code(), ErrorCode::kCorrupt);
  EXPECT_EQ(moved.message(), "get: read blob: bad checksum");
}

TEST(ErrorTest, ErrnoNoSpaceSaysDiskFull) {
  Error e = errno_error(ENOSPC, "/data/temp/x");
  EXPECT_EQ(e.code(), ErrorCode::kNoSpace);
  EXPECT_THAT(e.message(), HasSubstr("/data/temp/x"));
  EXPECT_THAT(e.message(), HasSubstr("disk full"));
  EXPECT_EQ(errno_error(EDQUOT, "q").code(), ErrorCode::kNoSpace);
}

TEST(ErrorTest, ErrnoMapsCodes) {
  Error e = errno_error(ENOENT, "/no/such/file");
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_THAT(e.message(), HasSubstr("/no/such/file"));
  EXPECT_THAT(e.message(), HasSubstr("No such file"));
  EXPECT_EQ(errno_error(EACCES, "p").code(), ErrorCode::kPermission);
  EXPECT_EQ(errno_error(EPERM, "p").code(), ErrorCode::kPermission);
  EXPECT_EQ(errno_error(EEXIST, "p").code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(errno_error(EIO, "p").code(), ErrorCode::kIo);
}

TEST(ErrorTest, CodeNames) {
  EXPECT_EQ(error_code_name(ErrorCode::kNoSpace), "no_space");
  EXPECT_EQ(error_code_name(ErrorCode::kNotFound), "not_found");
}

Result<int> parse_positive(int v) {
  if (v <= 0) return make_error(ErrorCode::kInvalidArgument, "not positive");
  return v;
}

Status check_positive(int v, int* reached) {
  BZZZ_TRY(parse_positive(v));
  *reached = v;
  return ok();
}

Result<int> doubled(int v) {
  BZZZ_ASSIGN_OR_RETURN(int x, parse_positive(v));
  BZZZ_ASSIGN_OR_RETURN(const int y, parse_positive(x + 1));
  return x + y - 1;
}

TEST(MacroTest, TryPropagatesErrorAndContinuesOnSuccess) {
  int reached = 0;
  Status bad = check_positive(-1, &reached);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message(), "not positive");
  EXPECT_EQ(reached, 0);

  EXPECT_TRUE(check_positive(5, &reached));
  EXPECT_EQ(reached, 5);
}

TEST(MacroTest, TryWorksOnStatus) {
  auto outer = [](bool fail_inner) -> Result<std::string> {
    auto inner = [&]() -> Status {
      if (fail_inner) return make_error(ErrorCode::kBusy, "locked");
      return ok();
    };
    BZZZ_TRY(inner());
    return std::string("done");
  };
  EXPECT_EQ(*outer(false), "done");
  EXPECT_EQ(outer(true).error().code(), ErrorCode::kBusy);
}

TEST(MacroTest, AssignOrReturn) {
  Result<int> good = doubled(4);
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 8);
  Result<int> bad = doubled(0);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "not positive");
}

}  // namespace
}  // namespace bzzz
