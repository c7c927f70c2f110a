// One JSON line per call, written off the call path by a background thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "observe/recent_lines.h"

namespace spdlog {
class logger;
}

namespace nodegate::observe {

struct AccessRecord {
  absl::Time time;
  std::string authority;
  std::string peer;
  std::string method;
  int code = 0;
  double duration_ms = 0;
  std::string user_agent;
  std::string client_cn;
  std::string principal;  // "node:<id>", "user:<id>", "app:<id>" once authenticated; else empty
  std::string reason;     // why a call was refused (category + detail, never a secret)
};

class AccessLog {
 public:
  // `destination`: "stdout", "stderr", "off", or a file path (appended).
  // `recent`, when set, also receives every line (the web console's "last 100 lines"), even
  // when the destination is "off".
  static absl::StatusOr<std::shared_ptr<AccessLog>> Open(
      const std::string& destination, std::shared_ptr<RecentLines> recent = nullptr);
  ~AccessLog();

  // True when lines go anywhere (a destination or the in-memory recent lines).
  bool enabled() const { return logger_ != nullptr || recent_ != nullptr; }
  void Write(const AccessRecord& record);
  void Flush();

 private:
  explicit AccessLog(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<RecentLines> recent_;
  std::shared_ptr<void> pool_keepalive_;  // spdlog's async thread pool
};

// The record as one JSON object (no trailing newline). Exposed for tests.
std::string FormatAccessRecord(const AccessRecord& record);

// gRPC's canonical status name for a code ("OK", "UNAUTHENTICATED", …).
const char* StatusCodeName(int code);

}  // namespace nodegate::observe
