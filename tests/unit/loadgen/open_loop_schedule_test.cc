#include "loadgen/open_loop_schedule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace nodegate::loadgen {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using Clock = OpenLoopSchedule::Clock;
using Start = OpenLoopSchedule::Start;

const Clock::time_point kT0 = Clock::time_point() + std::chrono::hours(1);
const auto kAdmitAll = [](Clock::time_point) { return true; };

// Claims every call that can be claimed at `now`.
std::vector<Start> ClaimAll(OpenLoopSchedule& schedule, Clock::time_point now) {
  std::vector<Start> out;
  Start s;
  while (schedule.Claim(now, kAdmitAll, &s)) out.push_back(s);
  return out;
}

std::vector<int> Slots(const std::vector<Start>& starts) {
  std::vector<int> slots;
  slots.reserve(starts.size());
  for (const Start& s : starts) slots.push_back(s.slot);
  return slots;
}

std::vector<Clock::time_point> Dues(const std::vector<Start>& starts) {
  std::vector<Clock::time_point> dues;
  dues.reserve(starts.size());
  for (const Start& s : starts) dues.push_back(s.due);
  return dues;
}

std::vector<bool> Owed(const std::vector<Start>& starts) {
  std::vector<bool> owed;
  owed.reserve(starts.size());
  for (const Start& s : starts) owed.push_back(s.owed);
  return owed;
}

TEST(OpenLoopScheduleTest, ClaimsNothingBeforeTheFirstCallIsDue) {
  OpenLoopSchedule schedule(kT0, 1e6, 4);

  EXPECT_TRUE(ClaimAll(schedule, kT0 - microseconds(1)).empty());
  EXPECT_EQ(schedule.NextClaim(), kT0);
}

TEST(OpenLoopScheduleTest, ClaimsEveryDueCallInOrderEachWithItsOwnDueTime) {
  OpenLoopSchedule schedule(kT0, 1e6, 4);  // one call per millisecond

  std::vector<Start> claimed = ClaimAll(schedule, kT0 + microseconds(2500));

  EXPECT_THAT(Dues(claimed),
              testing::ElementsAre(kT0, kT0 + milliseconds(1), kT0 + milliseconds(2)));
  EXPECT_THAT(Slots(claimed), testing::ElementsAre(0, 1, 2));
  EXPECT_THAT(Owed(claimed), testing::ElementsAre(false, false, false));  // late, not owed
  EXPECT_EQ(schedule.NextClaim(), kT0 + milliseconds(3));
}

TEST(OpenLoopScheduleTest, DueCallWithoutAFreeSlotIsOwedNotSkipped) {
  OpenLoopSchedule schedule(kT0, 1e6, 1);
  ASSERT_EQ(ClaimAll(schedule, kT0).size(), 1u);

  // Calls 1..3 fall due while the only slot is busy.
  EXPECT_TRUE(ClaimAll(schedule, kT0 + microseconds(3500)).empty());
  EXPECT_EQ(schedule.NextClaim(), Clock::time_point::max());  // only a release can help

  // Each release starts the oldest owed call, still timed from when it was due.
  schedule.Release(0, kT0 + milliseconds(4));
  EXPECT_EQ(schedule.NextClaim(), kT0 + milliseconds(1));
  std::vector<Start> first = ClaimAll(schedule, kT0 + milliseconds(4));
  EXPECT_THAT(Dues(first), testing::ElementsAre(kT0 + milliseconds(1)));
  EXPECT_THAT(Owed(first), testing::ElementsAre(true));
  schedule.Release(0, kT0 + milliseconds(4));
  std::vector<Start> second = ClaimAll(schedule, kT0 + milliseconds(4));
  EXPECT_THAT(Dues(second), testing::ElementsAre(kT0 + milliseconds(2)));
  EXPECT_THAT(Owed(second), testing::ElementsAre(true));
  EXPECT_EQ(schedule.claimed(), 3);

  // Once the backlog is cleared, calls are on time (not owed) again.
  schedule.Release(0, kT0 + microseconds(4500));
  EXPECT_THAT(Owed(ClaimAll(schedule, kT0 + microseconds(4500))), testing::ElementsAre(true));
  schedule.Release(0, kT0 + microseconds(4600));
  EXPECT_THAT(Owed(ClaimAll(schedule, kT0 + microseconds(4600))), testing::ElementsAre(true));
  schedule.Release(0, kT0 + microseconds(4700));
  std::vector<Start> on_time = ClaimAll(schedule, kT0 + milliseconds(5));
  EXPECT_THAT(Dues(on_time), testing::ElementsAre(kT0 + milliseconds(5)));
  EXPECT_THAT(Owed(on_time), testing::ElementsAre(false));
}

TEST(OpenLoopScheduleTest, TheSlotReleasedLastIsReusedFirst) {
  OpenLoopSchedule schedule(kT0, 1e6, 4);
  ASSERT_THAT(Slots(ClaimAll(schedule, kT0 + milliseconds(1))), testing::ElementsAre(0, 1));

  schedule.Release(1, kT0 + milliseconds(2));
  schedule.Release(0, kT0 + milliseconds(2));

  EXPECT_THAT(Slots(ClaimAll(schedule, kT0 + milliseconds(2))), testing::ElementsAre(0));
}

TEST(OpenLoopScheduleTest, RefusedAdmissionFinishesTheSchedule) {
  OpenLoopSchedule schedule(kT0, 1e6, 8);
  auto before_2ms = [](Clock::time_point due) { return due < kT0 + milliseconds(2); };
  Start s;
  int claimed = 0;

  while (schedule.Claim(kT0 + milliseconds(5), before_2ms, &s)) ++claimed;

  EXPECT_EQ(claimed, 2);
  EXPECT_TRUE(schedule.finished());
  EXPECT_FALSE(schedule.Claim(kT0 + milliseconds(6), kAdmitAll, &s));
  EXPECT_EQ(schedule.NextClaim(), Clock::time_point::max());
}

TEST(OpenLoopScheduleTest, DrainedOnceFinishedAndEveryClaimedSlotIsReleased) {
  OpenLoopSchedule schedule(kT0, 1e6, 2);
  ASSERT_EQ(ClaimAll(schedule, kT0).size(), 1u);

  schedule.Finish();
  EXPECT_TRUE(ClaimAll(schedule, kT0 + milliseconds(5)).empty());
  EXPECT_FALSE(schedule.drained());
  schedule.Release(0, kT0 + milliseconds(4));

  EXPECT_TRUE(schedule.drained());
}

TEST(OpenLoopScheduleTest, DueTimesDoNotDriftWithAFractionalInterval) {
  OpenLoopSchedule schedule(kT0, 1e9 / 30000, 1);  // 33333.3 ns

  EXPECT_EQ(schedule.Due(3), kT0 + std::chrono::nanoseconds(100000));
  EXPECT_EQ(schedule.Due(30000), kT0 + std::chrono::seconds(1));
  EXPECT_EQ(schedule.Due(int64_t{30000} * 3600), kT0 + std::chrono::hours(1));
}

}  // namespace
}  // namespace nodegate::loadgen
