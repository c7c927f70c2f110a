#include "observe/metrics.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "observe/access_log.h"

namespace nodegate::observe {
namespace {

constexpr std::string_view kOther = "other";

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Num(double v) {
  if (v == static_cast<double>(static_cast<int64_t>(v)) && v < 1e15 && v > -1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  return absl::StrFormat("%.6g", v);
}

}  // namespace

Metrics::Metrics(const std::vector<std::string>& methods) {
  for (const std::string& m : methods) methods_.emplace(m, std::make_unique<MethodStats>());
  methods_.emplace(std::string(kOther), std::make_unique<MethodStats>());
}

void Metrics::RecordCall(std::string_view method, int code, double seconds) {
  auto it = methods_.find(Absl(method));
  if (it == methods_.end()) it = methods_.find(Absl(kOther));
  MethodStats& s = *it->second;
  s.by_code[static_cast<size_t>(code >= 0 && code <= 16 ? code : 2)].fetch_add(
      1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  s.buckets[b].fetch_add(1, std::memory_order_relaxed);
  s.sum_micros.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Metrics::AddCallback(std::string name, std::string help, std::string type,
                          std::function<std::vector<Sample>()> read) {
  std::lock_guard<std::mutex> lock(callbacks_mu_);
  callbacks_.push_back({std::move(name), std::move(help), std::move(type), std::move(read)});
}

uint64_t Metrics::TotalCalls() const {
  uint64_t total = 0;
  for (const auto& [m, s] : methods_) {
    for (const auto& c : s->by_code) total += c.load(std::memory_order_relaxed);
  }
  return total;
}

std::string Metrics::RenderPrometheus() const {
  std::string out;
  out.append(
      "# HELP nodegate_grpc_calls_total gRPC calls by full method and status code.\n"
      "# TYPE nodegate_grpc_calls_total counter\n");
  for (const auto& [method, s] : methods_) {
    for (int code = 0; code <= 16; ++code) {
      uint64_t n = s->by_code[code].load(std::memory_order_relaxed);
      if (n == 0) continue;
      absl::StrAppend(&out, "nodegate_grpc_calls_total{method=\"", method, "\",code=\"",
                      StatusCodeName(code), "\"} ", n, "\n");
    }
  }
  out.append(
      "# HELP nodegate_grpc_call_duration_seconds Server-side call latency by method.\n"
      "# TYPE nodegate_grpc_call_duration_seconds histogram\n");
  for (const auto& [method, s] : methods_) {
    uint64_t cumulative = 0;
    std::array<uint64_t, kBuckets.size() + 1> counts;
    for (size_t b = 0; b < counts.size(); ++b) counts[b] = s->buckets[b].load();
    uint64_t total = 0;
    for (uint64_t c : counts) total += c;
    if (total == 0) continue;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += counts[b];
      absl::StrAppend(&out, "nodegate_grpc_call_duration_seconds_bucket{method=\"", method,
                      "\",le=\"", Num(kBuckets[b]), "\"} ", cumulative, "\n");
    }
    absl::StrAppend(&out, "nodegate_grpc_call_duration_seconds_bucket{method=\"", method,
                    "\",le=\"+Inf\"} ", total, "\n");
    absl::StrAppend(&out, "nodegate_grpc_call_duration_seconds_sum{method=\"", method, "\"} ",
                    Num(static_cast<double>(s->sum_micros.load()) / 1e6), "\n");
    absl::StrAppend(&out, "nodegate_grpc_call_duration_seconds_count{method=\"", method, "\"} ",
                    total, "\n");
  }
  std::lock_guard<std::mutex> lock(callbacks_mu_);
  for (const Callback& c : callbacks_) {
    absl::StrAppend(&out, "# HELP ", c.name, " ", c.help, "\n# TYPE ", c.name, " ", c.type, "\n");
    for (const Sample& sample : c.read()) {
      absl::StrAppend(&out, c.name, sample.labels.empty() ? "" : "{", sample.labels,
                      sample.labels.empty() ? "" : "}", " ", Num(sample.value), "\n");
    }
  }
  return out;
}

double ProcessRssBytes() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double ProcessCpuSeconds() {
  std::ifstream stat("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may contain spaces) start after the last ')'.
  size_t close = content.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(content.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace nodegate::observe
