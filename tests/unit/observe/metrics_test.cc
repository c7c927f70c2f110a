#include "observe/metrics.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nodegate::observe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRoll[] = "/api.DiceService/RollDie";

TEST(MetricsTest, CountsCallsByMethodAndStatusCode) {
  Metrics m({kRoll});
  m.RecordCall(kRoll, 0, 0.001);
  m.RecordCall(kRoll, 0, 0.001);
  m.RecordCall(kRoll, 16, 0.0);

  std::string text = m.RenderPrometheus();

  EXPECT_THAT(text, HasSubstr("nodegate_grpc_calls_total{method=\"/api.DiceService/RollDie\","
                              "code=\"OK\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("nodegate_grpc_calls_total{method=\"/api.DiceService/RollDie\","
                              "code=\"UNAUTHENTICATED\"} 1\n"));
  EXPECT_EQ(m.TotalCalls(), 3u);
}

TEST(MetricsTest, UnknownMethodsAreCountedAsOtherSoLabelsStayBounded) {
  Metrics m({kRoll});
  m.RecordCall("/evil.Service/Method1", 12, 0.0);
  m.RecordCall("/evil.Service/Method2", 12, 0.0);

  std::string text = m.RenderPrometheus();

  EXPECT_THAT(text, HasSubstr("method=\"other\",code=\"UNIMPLEMENTED\"} 2\n"));
  EXPECT_THAT(text, Not(HasSubstr("evil")));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndEndWithInf) {
  Metrics m({kRoll});
  m.RecordCall(kRoll, 0, 0.00005);  // ≤ 0.0001
  m.RecordCall(kRoll, 0, 0.003);    // ≤ 0.005
  m.RecordCall(kRoll, 0, 10.0);     // only +Inf

  std::string text = m.RenderPrometheus();

  EXPECT_THAT(text, HasSubstr("_bucket{method=\"/api.DiceService/RollDie\",le=\"0.0001\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("_bucket{method=\"/api.DiceService/RollDie\",le=\"0.005\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("_bucket{method=\"/api.DiceService/RollDie\",le=\"5\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("_bucket{method=\"/api.DiceService/RollDie\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("nodegate_grpc_call_duration_seconds_count{method="
                              "\"/api.DiceService/RollDie\"} 3\n"));
}

TEST(MetricsTest, CallbacksAreReadAtRenderTimeWithHelpAndType) {
  Metrics m({});
  int value = 1;
  m.AddCallback("nodegate_test_gauge", "A test gauge.", "gauge", [&value] {
    return std::vector<Metrics::Sample>{{"kind=\"a\"", static_cast<double>(value)}, {"", 2.5}};
  });
  value = 7;

  std::string text = m.RenderPrometheus();

  EXPECT_THAT(text, HasSubstr("# HELP nodegate_test_gauge A test gauge.\n"
                              "# TYPE nodegate_test_gauge gauge\n"
                              "nodegate_test_gauge{kind=\"a\"} 7\n"
                              "nodegate_test_gauge 2.5\n"));
}

TEST(MetricsTest, ConcurrentRecordingLosesNoCall) {
  Metrics m({kRoll});
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 10000; ++i) m.RecordCall(kRoll, 0, 0.0002);
    });
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(m.TotalCalls(), 80000u);
}

TEST(MetricsTest, ProcessGaugesReadProcSelf) {
  EXPECT_GT(ProcessRssBytes(), 1024 * 1024);
  EXPECT_GE(ProcessCpuSeconds(), 0.0);
}

}  // namespace
}  // namespace nodegate::observe
