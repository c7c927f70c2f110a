#include "loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace nodegate::loadgen {
namespace {

constexpr uint64_t kSubBuckets = uint64_t{1} << Histogram::kSubBucketBits;  // 2048
constexpr uint64_t kHalf = kSubBuckets / 2;                                 // 1024
// Values below kSubBuckets are exact; each further power of two adds kHalf buckets.
constexpr int kMagnitudes = 64 - Histogram::kSubBucketBits;
constexpr size_t kBuckets = kSubBuckets + static_cast<size_t>(kMagnitudes) * kHalf;

}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) {}

int Histogram::BucketIndex(uint64_t value) {
  if (value < kSubBuckets) return static_cast<int>(value);
  // shift >= 1: value >> shift lies in [kHalf, kSubBuckets).
  int shift = (63 - std::countl_zero(value)) - (kSubBucketBits - 1);
  uint64_t sub = value >> shift;
  return static_cast<int>(kSubBuckets + static_cast<uint64_t>(shift - 1) * kHalf + (sub - kHalf));
}

uint64_t Histogram::BucketUpperEdge(int index) {
  uint64_t i = static_cast<uint64_t>(index);
  if (i < kSubBuckets) return i;
  uint64_t shift = (i - kSubBuckets) / kHalf + 1;
  uint64_t sub = (i - kSubBuckets) % kHalf + kHalf;
  uint64_t low = sub << shift;
  return low + ((uint64_t{1} << shift) - 1);
}

void Histogram::Record(uint64_t value) {
  ++counts_[BucketIndex(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

uint64_t Histogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // The rank of the value asked for, 1-based, rounded as HdrHistogram does (a plain ceil would
  // turn 99.9 % of 10000 into 9991 through floating-point error); at least the first value.
  auto rank = static_cast<uint64_t>(std::llround(percentile / 100.0 * static_cast<double>(count_)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(BucketUpperEdge(static_cast<int>(i)), max_);
  }
  return max_;
}

}  // namespace nodegate::loadgen
