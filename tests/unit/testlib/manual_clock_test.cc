#include "testlib/manual_clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/synchronization/notification.h"

namespace nodegate::testlib {
namespace {

TEST(ManualClockTest, StandsStillUntilAdvanced) {
  ManualClock clock(absl::FromUnixSeconds(1000));
  const auto steady = clock.SteadyNow();

  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000));
  clock.Advance(absl::Milliseconds(1500));

  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000) + absl::Milliseconds(1500));
  EXPECT_EQ(clock.SteadyNow() - steady, std::chrono::milliseconds(1500));
}

TEST(ManualClockTest, AWaitEndsWhenTheClockReachesItsDeadlineAndNotBefore) {
  ManualClock clock;
  absl::Notification stop;
  std::atomic<bool> ended{false};
  bool stopped = true;
  std::thread waiter([&] {
    stopped = clock.WaitForNotificationWithTimeout(stop, absl::Seconds(10));
    ended = true;
  });
  clock.BlockUntilWaiting(1);

  clock.Advance(absl::Seconds(9));
  clock.BlockUntilWaiting(1);  // still waiting: its deadline has not come
  EXPECT_FALSE(ended);

  clock.Advance(absl::Seconds(1));
  waiter.join();
  EXPECT_TRUE(ended);
  EXPECT_FALSE(stopped);
  EXPECT_EQ(clock.waits_started(), 1);
}

TEST(ManualClockTest, AWaitEndsWhenItsStopIsNotifiedWithoutTheClockMoving) {
  ManualClock clock;
  absl::Notification stop;
  bool stopped = false;
  std::thread waiter([&] { stopped = clock.WaitForNotificationWithTimeout(stop, absl::Hours(1)); });
  clock.BlockUntilWaiting(1);

  stop.Notify();
  waiter.join();

  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace nodegate::testlib
