#include "rpc/token_bucket.h"

#include "gtest/gtest.h"

namespace nodegate::rpc {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TEST(TokenBucketTest, AllowsTheBurstAtOnceThenRefuses) {
  TokenBucket bucket(/*rate=*/10, /*burst=*/3);
  EXPECT_TRUE(bucket.Take(kT0));
  EXPECT_TRUE(bucket.Take(kT0));
  EXPECT_TRUE(bucket.Take(kT0));
  EXPECT_FALSE(bucket.Take(kT0));
}

TEST(TokenBucketTest, RefillsAtTheRate) {
  TokenBucket bucket(/*rate=*/10, /*burst=*/1);
  ASSERT_TRUE(bucket.Take(kT0));
  EXPECT_FALSE(bucket.Take(kT0 + absl::Milliseconds(50)));
  EXPECT_TRUE(bucket.Take(kT0 + absl::Milliseconds(100)));
}

TEST(TokenBucketTest, NeverSavesMoreThanTheBurst) {
  TokenBucket bucket(/*rate=*/10, /*burst=*/2);
  ASSERT_TRUE(bucket.Take(kT0));
  const absl::Time later = kT0 + absl::Hours(1);
  EXPECT_TRUE(bucket.Take(later));
  EXPECT_TRUE(bucket.Take(later));
  EXPECT_FALSE(bucket.Take(later));
}

TEST(TokenBucketTest, AClockStepBackRefillsNothing) {
  TokenBucket bucket(/*rate=*/10, /*burst=*/1);
  ASSERT_TRUE(bucket.Take(kT0));
  EXPECT_FALSE(bucket.Take(kT0 - absl::Seconds(10)));
  EXPECT_FALSE(bucket.Take(kT0 + absl::Milliseconds(50)));
}

}  // namespace
}  // namespace nodegate::rpc
