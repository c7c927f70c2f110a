// A log-bucketed latency histogram in the manner of HdrHistogram: values are kept with three
// significant decimal digits (relative error < 0.1 %) across the whole uint64 range, in a fixed
// array of counters, so recording is a few instructions with no allocation and histograms from
// several threads merge exactly by adding counters. Percentiles come from the counts, never from
// averages of averages.
//
// Why not a library: Debian 12 packages HdrHistogram for Java and Go only (`apt-cache search hdr`
// finds libhdrhistogram-java and golang-github-codahale-hdrhistogram-dev); there is no C/C++ one.
#pragma once

#include <cstdint>
#include <vector>

namespace nodegate::loadgen {

class Histogram {
 public:
  // 2^11 linear sub-buckets per power of two: the first bucket is exact up to 2047, every
  // later one halves its resolution as the magnitude doubles.
  static constexpr int kSubBucketBits = 11;

  Histogram();

  void Record(uint64_t value);
  // Adds `other`'s counts into this one (exact: same bucket layout).
  void Merge(const Histogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
  }

  // The smallest recorded-equivalent value v such that at least `percentile` % of the values
  // are <= v (HdrHistogram's definition); reported as the bucket's upper edge, never above max().
  // 0 when empty. `percentile` is clamped to [0, 100].
  uint64_t ValueAtPercentile(double percentile) const;

  // Bucket geometry, exposed for tests.
  static int BucketIndex(uint64_t value);
  static uint64_t BucketUpperEdge(int index);  // largest value that maps to `index`

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  unsigned __int128 sum_ = 0;
};

}  // namespace nodegate::loadgen
