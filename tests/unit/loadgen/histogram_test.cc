#include "loadgen/histogram.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace nodegate::loadgen {
namespace {

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.ValueAtPercentile(50), 50u);
  EXPECT_EQ(h.ValueAtPercentile(99), 99u);
  EXPECT_EQ(h.ValueAtPercentile(100), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(HistogramTest, LargeValuesKeepThreeSignificantDigits) {
  for (uint64_t v :
       {uint64_t{2048}, uint64_t{123456}, uint64_t{987654321}, uint64_t{1} << 40, UINT64_MAX}) {
    int i = Histogram::BucketIndex(v);
    uint64_t upper = Histogram::BucketUpperEdge(i);
    EXPECT_GE(upper, v);
    EXPECT_LE(static_cast<double>(upper - v), static_cast<double>(v) / 1000.0) << v;
    EXPECT_EQ(Histogram::BucketIndex(upper), i) << v;
  }
}

TEST(HistogramTest, BucketsAreMonotonic) {
  int last = -1;
  for (uint64_t v = 0; v < (uint64_t{1} << 22); v += 7) {
    int i = Histogram::BucketIndex(v);
    EXPECT_GE(i, last);
    last = i;
  }
}

TEST(HistogramTest, PercentileNeverExceedsMax) {
  Histogram h;
  h.Record(1000001);
  EXPECT_EQ(h.ValueAtPercentile(50), 1000001u);
  EXPECT_EQ(h.ValueAtPercentile(100), 1000001u);
}

TEST(HistogramTest, TailPercentilesSeeOutliers) {
  Histogram h;
  for (int i = 0; i < 9990; ++i) h.Record(1'000'000);  // 1 ms
  for (int i = 0; i < 10; ++i) h.Record(50'000'000);   // 50 ms
  EXPECT_NEAR(static_cast<double>(h.ValueAtPercentile(99.9)), 1e6, 1e3);
  EXPECT_NEAR(static_cast<double>(h.ValueAtPercentile(99.95)), 5e7, 5e4);
  EXPECT_EQ(h.max(), 50'000'000u);
}

TEST(HistogramTest, MergeEqualsRecordingIntoOne) {
  Histogram a, b, both;
  for (uint64_t v = 1; v < 100000; v += 13) {
    (v % 2 ? a : b).Record(v * 37);
    both.Record(v * 37);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.min(), both.min());
  EXPECT_EQ(a.max(), both.max());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(a.ValueAtPercentile(p), both.ValueAtPercentile(p)) << p;
  }
}

TEST(HistogramTest, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.ValueAtPercentile(99), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

}  // namespace
}  // namespace nodegate::loadgen
