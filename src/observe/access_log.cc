#include "observe/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nodegate::observe {
namespace {

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

// "2026-01-01T00:00:00.123Z" in quotes. absl::FormatTime is slow for a per-call path, so the
// seconds part is formatted once per second per thread.
void AppendTimestamp(std::string* out, absl::Time t) {
  thread_local int64_t cached_second = INT64_MIN;
  thread_local char cached[24];
  const int64_t ms = absl::ToUnixMillis(t);
  const int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (second != cached_second) {
    std::string s = absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second),
                                     absl::UTCTimeZone());
    std::snprintf(cached, sizeof(cached), "%s", s.c_str());
    cached_second = second;
  }
  char buf[40];
  int n = std::snprintf(buf, sizeof(buf), "\"%s.%03dZ\"", cached,
                        static_cast<int>(ms - second * 1000));
  out->append(buf, static_cast<size_t>(n));
}

void Field(std::string* out, std::string_view key, std::string_view value) {
  out->push_back(',');
  AppendJsonString(out, key);
  out->push_back(':');
  AppendJsonString(out, value);
}

}  // namespace

const char* StatusCodeName(int code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",         "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",      "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  if (code < 0 || code > 16) return "UNKNOWN";
  return kNames[code];
}

std::string FormatAccessRecord(const AccessRecord& r) {
  std::string out;
  out.reserve(256);
  out.append("{\"time\":");
  AppendTimestamp(&out, r.time);
  Field(&out, "authority", r.authority);
  Field(&out, "peer", r.peer);
  Field(&out, "method", r.method);
  absl::StrAppend(&out, ",\"code\":", r.code);
  Field(&out, "status", StatusCodeName(r.code));
  absl::StrAppendFormat(&out, ",\"duration_ms\":%.3f", r.duration_ms);
  Field(&out, "user_agent", r.user_agent);
  Field(&out, "client_cn", r.client_cn);
  if (!r.principal.empty()) Field(&out, "principal", r.principal);
  if (!r.reason.empty()) Field(&out, "reason", r.reason);
  out.push_back('}');
  return out;
}

namespace {

constexpr size_t kWakeWriterBytes = 256 * 1024;
constexpr size_t kMaxPendingBytes = 16 * 1024 * 1024;
constexpr auto kWriteInterval = std::chrono::milliseconds(50);

void WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // a broken destination must not take the server down; nothing else to do
    }
    off += static_cast<size_t>(n);
  }
}

}  // namespace

AccessLog::AccessLog(int fd, bool owns_fd, std::shared_ptr<RecentLines> recent)
    : fd_(fd), owns_fd_(owns_fd), recent_(std::move(recent)) {
  if (fd_ >= 0) writer_ = std::thread([this] { Run(); });
}

absl::StatusOr<std::shared_ptr<AccessLog>> AccessLog::Open(const std::string& destination,
                                                          std::shared_ptr<RecentLines> recent) {
  if (destination == "off" || destination.empty()) {
    return std::shared_ptr<AccessLog>(new AccessLog(-1, false, std::move(recent)));
  }
  if (destination == "stdout") {
    return std::shared_ptr<AccessLog>(new AccessLog(STDOUT_FILENO, false, std::move(recent)));
  }
  if (destination == "stderr") {
    return std::shared_ptr<AccessLog>(new AccessLog(STDERR_FILENO, false, std::move(recent)));
  }
  int fd = ::open(destination.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("log.access_log: ", destination, ": ", std::strerror(errno)));
  }
  return std::shared_ptr<AccessLog>(new AccessLog(fd, true, std::move(recent)));
}

AccessLog::~AccessLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  Flush();
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

void AccessLog::Write(const AccessRecord& record) {
  if (fd_ < 0 && recent_ == nullptr) return;
  std::string line = FormatAccessRecord(record);
  if (recent_) recent_->Push(fd_ >= 0 ? line : std::move(line));
  if (fd_ < 0) return;
  std::unique_lock<std::mutex> lock(mu_);
  // Back-pressure instead of loss when the destination cannot keep up.
  drained_.wait(lock, [this] { return pending_.size() < kMaxPendingBytes || stop_; });
  pending_.append(line).push_back('\n');
  if (pending_.size() >= kWakeWriterBytes) wake_.notify_one();
}

void AccessLog::WriteOutLocked() {
  std::string batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(pending_);
  }
  drained_.notify_all();
  if (!batch.empty()) WriteAll(fd_, batch);
}

void AccessLog::Flush() {
  if (fd_ < 0) return;
  std::lock_guard<std::mutex> write_lock(write_mu_);
  WriteOutLocked();
}

void AccessLog::Run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, kWriteInterval,
                     [this] { return stop_ || pending_.size() >= kWakeWriterBytes; });
      if (stop_) return;
    }
    std::lock_guard<std::mutex> write_lock(write_mu_);
    WriteOutLocked();
  }
}

}  // namespace nodegate::observe
