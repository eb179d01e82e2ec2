#include "keelan/error.h"

#include <gtest/gtest.h>

#include <memory>
#include <type_traits>

#include "keelan/protocol.h"

namespace keelan {
namespace {

static_assert(std::is_same_v<ProtocolError, Error>, "the old name stays usable");

Result<int> half(int n) {
  if (n % 2 != 0) return Error{errc::invalid_argument, std::to_string(n) + " is odd"};
  return n / 2;
}

// An error crosses from one Result type to another by returning it.
Result<std::string> halfAsText(int n) {
  auto halved = half(n);
  if (!halved) return halved.error();
  return std::to_string(halved.value());
}

Result<void> mustBeEven(int n) {
  if (auto halved = half(n); !halved) return halved.error();
  return {};
}

TEST(Result, HoldsAValue) {
  auto r = half(8);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 4);
}

TEST(Result, HoldsAnError) {
  auto r = half(3);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error(), (Error{errc::invalid_argument, "3 is odd"}));
}

TEST(Result, PassesAnErrorOnToAnotherType) {
  EXPECT_EQ(halfAsText(10).value(), "5");
  EXPECT_EQ(halfAsText(5).error().message, "5 is odd");
}

TEST(Result, ConvertsWhatConvertsImplicitlyToItsValue) {
  Result<std::string> text = "literal";
  EXPECT_EQ(text.value(), "literal");
  EXPECT_EQ(text->size(), 7u);
}

TEST(Result, MovesAMoveOnlyValueOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  std::unique_ptr<int> taken = std::move(r).value();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, 7);
}

TEST(Result, VoidIsSuccessOrError) {
  Result<void> fine;
  EXPECT_TRUE(fine.ok());
  EXPECT_TRUE(mustBeEven(2).ok());
  auto bad = mustBeEven(1);
  EXPECT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(bad.error().code, errc::invalid_argument);
}

TEST(Result, AnErrorIsNotABooleanOrAnInt) {
  // explicit operator bool: a Result never converts silently into a value.
  static_assert(!std::is_convertible_v<Result<int>, bool>);
  static_assert(!std::is_convertible_v<Result<int>, Result<bool>>);
  static_assert(std::is_convertible_v<Error, Result<int>>);
  static_assert(std::is_convertible_v<Error, Result<void>>);
}

TEST(ResultDeathTest, AskingForTheMissingSideAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH((void)half(3).value(), "");
  EXPECT_DEATH((void)half(4).error(), "");
  EXPECT_DEATH(Result<void>().error(), "");
}

TEST(Error, TravelsOverTheProtocolAsItIs) {
  Error error{errc::not_found, "no ship named 'a'"};
  EXPECT_EQ(encodeLine(errorResponse(1, error)),
            "{\"error\":{\"code\":\"not_found\",\"message\":\"no ship named 'a'\"},\"id\":1,\"ok\":false}\n");
}

}  // namespace
}  // namespace keelan
