// observe::RecentLines, the console's "last 100 access-log lines", fed by AccessLog.
#include <gtest/gtest.h>

#include <thread>

#include "observe/access_log.h"
#include "observe/recent_lines.h"

namespace nodegate::observe {
namespace {

TEST(ConsoleRecentLinesTest, KeepsTheLastLinesOldestFirst) {
  RecentLines r(3);
  for (int i = 0; i < 5; ++i) r.Push(std::to_string(i));
  EXPECT_EQ(r.Snapshot(), (std::vector<std::string>{"2", "3", "4"}));
  EXPECT_EQ(r.total(), 5u);
}

TEST(ConsoleRecentLinesTest, EmptyBeforeAnyLine) {
  EXPECT_TRUE(RecentLines(10).Snapshot().empty());
}

TEST(ConsoleRecentLinesTest, AccessLogFeedsItEvenWhenTheDestinationIsOff) {
  auto recent = std::make_shared<RecentLines>(100);
  auto log = AccessLog::Open("off", recent);
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE((*log)->enabled());
  AccessRecord rec;
  rec.method = "/api.DiceService/RollDie";
  (*log)->Write(rec);
  ASSERT_EQ(recent->Snapshot().size(), 1u);
  EXPECT_EQ(recent->Snapshot()[0], FormatAccessRecord(rec));
}

TEST(ConsoleRecentLinesTest, ConcurrentPushesKeepCapacity) {
  RecentLines r(100);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&r] {
      for (int i = 0; i < 1000; ++i) r.Push("line");
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(r.Snapshot().size(), 100u);
  EXPECT_EQ(r.total(), 4000u);
}

}  // namespace
}  // namespace nodegate::observe
