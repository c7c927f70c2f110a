// One JSON line per call. Calls only format their line and append it to a buffer; a background
// thread writes the buffer with one write() every 50 ms (or sooner when it grows), so a busy server
// pays no wake-up, no syscall and no flush per call. A call never waits for the log: when 16 MiB
// are buffered (the destination cannot keep up: a stalled pipe, a full disk), further lines are
// dropped and counted (dropped(), nodegate_access_log_dropped_total) — design §8: the access log
// never blocks a queue thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "observe/recent_lines.h"

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
  // The web console's own periodic refresh (a successful GET of /metrics or /api/v1/access-log
  // from the page): written to the destination like any line, but kept out of the recent lines,
  // which would otherwise fill with the page's own polling (docs/console.md, "Access log").
  bool console_poll = false;
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
  bool enabled() const { return fd_ >= 0 || recent_ != nullptr; }
  // Lines dropped because the buffer was full.
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  void Write(const AccessRecord& record);
  // Writes everything buffered so far before returning.
  void Flush();

 private:
  AccessLog(int fd, bool owns_fd, std::shared_ptr<RecentLines> recent);
  void Run();
  void WriteOutLocked();  // requires write_mu_

  const int fd_;  // -1 when off
  const bool owns_fd_;
  std::shared_ptr<RecentLines> recent_;
  std::mutex write_mu_;  // orders batches on the destination; taken before mu_
  std::mutex mu_;
  std::condition_variable wake_;  // the writer: there is work, or stop
  std::atomic<uint64_t> dropped_{0};
  std::string pending_;
  bool stop_ = false;
  std::thread writer_;
};

// The record as one JSON object (no trailing newline). Exposed for tests.
std::string FormatAccessRecord(const AccessRecord& record);

// gRPC's canonical status name for a code ("OK", "UNAUTHENTICATED", …).
const char* StatusCodeName(int code);

}  // namespace nodegate::observe
