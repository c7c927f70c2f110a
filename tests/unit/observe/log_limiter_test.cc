#include "observe/log_limiter.h"

#include "gtest/gtest.h"

namespace nodegate::observe {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

TEST(LogLimiterTest, LetsTheFirstLineOfAKeyThrough) {
  LogLimiter limiter(absl::Seconds(1));
  uint64_t held = 99;
  EXPECT_TRUE(limiter.Admit("site", kStart, &held));
  EXPECT_EQ(held, 0u);
}

TEST(LogLimiterTest, HoldsBackLinesInsideTheIntervalAndReportsTheirCount) {
  LogLimiter limiter(absl::Seconds(1));
  uint64_t held = 0;
  ASSERT_TRUE(limiter.Admit("site", kStart, &held));
  for (int i = 1; i <= 999; ++i) {
    EXPECT_FALSE(limiter.Admit("site", kStart + absl::Microseconds(i * 200), &held));
  }

  EXPECT_TRUE(limiter.Admit("site", kStart + absl::Seconds(1), &held));
  EXPECT_EQ(held, 999u);
  EXPECT_EQ(limiter.total_suppressed(), 999u);
}

TEST(LogLimiterTest, KeysAreLimitedIndependently) {
  LogLimiter limiter(absl::Seconds(1));
  uint64_t held = 0;
  ASSERT_TRUE(limiter.Admit("a", kStart, &held));
  EXPECT_TRUE(limiter.Admit("b", kStart, &held));
  EXPECT_FALSE(limiter.Admit("a", kStart + absl::Milliseconds(10), &held));
}

}  // namespace
}  // namespace nodegate::observe
