// Call metrics (counts by method and status code, latency histograms by method) plus gauges that
// other modules publish through callbacks, rendered in the Prometheus text format (0.0.4).
// The per-call path is lock-free: methods are registered up front, so recording is a lookup in an
// immutable table and a few relaxed atomic increments.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace nodegate::observe {

class Metrics {
 public:
  // Latency bucket upper bounds in seconds (Prometheus `le`).
  static constexpr std::array<double, 14> kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  // `methods`: every full method this node serves; others are counted under "other".
  explicit Metrics(const std::vector<std::string>& methods);

  void RecordCall(std::string_view method, int code, double seconds);

  // A sample: label set (already formatted, e.g. `reason="token_invalid"`, may be empty) → value.
  struct Sample {
    std::string labels;
    double value;
  };
  // Registers a metric whose samples are read when rendering (gauges or externally kept counters).
  void AddCallback(std::string name, std::string help, std::string type,
                   std::function<std::vector<Sample>()> read);

  std::string RenderPrometheus() const;
  uint64_t TotalCalls() const;

 private:
  struct MethodStats {
    std::array<std::atomic<uint64_t>, 17> by_code{};
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};  // last = +Inf
    std::atomic<uint64_t> sum_micros{0};
  };
  struct Callback {
    std::string name, help, type;
    std::function<std::vector<Sample>()> read;
  };

  absl::flat_hash_map<std::string, std::unique_ptr<MethodStats>> methods_;  // immutable after ctor
  mutable std::mutex callbacks_mu_;
  std::vector<Callback> callbacks_;
};

// Resident set size (bytes) and CPU time (seconds) of this process, from /proc/self.
double ProcessRssBytes();
double ProcessCpuSeconds();

}  // namespace nodegate::observe
