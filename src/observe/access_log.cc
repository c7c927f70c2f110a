#include "observe/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nodegate::observe {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] (Unicode 15, table 3-7: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 if the bytes there are not one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
    return k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  const unsigned char c = byte(i);
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c == 0xe0) return cont(i + 1, 0xa0) && cont(i + 2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) return cont(i + 1) && cont(i + 2) ? 3 : 0;
  if (c == 0xed) return cont(i + 1, 0x80, 0x9f) && cont(i + 2) ? 3 : 0;
  if (c == 0xf0) return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c == 0xf4) return cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

// Every field may hold bytes an unauthenticated caller chose (a user agent, a :authority): the
// line must stay one valid JSON object in valid UTF-8, or consumers reject it whole. Control
// characters (C0, DEL, C1) are escaped; each byte that is not part of a well-formed UTF-8
// sequence becomes U+FFFD.
void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  // Runs of characters that need no escaping are appended whole (this runs ~10 times per call).
  size_t run = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      size_t n = Utf8SequenceLength(s, i);
      const bool c1_control = n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0;
      if (n > 0 && !c1_control) {
        i += n;
        continue;
      }
      out->append(s.data() + run, i - run);
      if (c1_control) {
        absl::StrAppendFormat(out, "\\u%04x", static_cast<unsigned char>(s[i + 1]));
        i += 2;
      } else {
        out->append("\\ufffd");
        ++i;
      }
      run = i;
      continue;
    }
    out->append(s.data() + run, i - run);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        absl::StrAppendFormat(out, "\\u%04x", c);
    }
    ++i;
    run = i;
  }
  out->append(s.data() + run, s.size() - run);
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
    std::string s =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second), absl::UTCTimeZone());
    std::snprintf(cached, sizeof(cached), "%s", s.c_str());
    cached_second = second;
  }
  char buf[40];
  int n =
      std::snprintf(buf, sizeof(buf), "\"%s.%03dZ\"", cached, static_cast<int>(ms - second * 1000));
  out->append(buf, static_cast<size_t>(n));
}

}  // namespace

namespace {

// ",\"duration_ms\":1.234" — what "%.3f" prints, without printf's cost on the per-call path.
void AppendMillis(std::string* out, double ms) {
  if (!(ms >= 0) || ms > 1e12) {
    absl::StrAppendFormat(out, ",\"duration_ms\":%.3f", ms);
    return;
  }
  const int64_t micros = std::llround(ms * 1000.0);
  char frac[4] = {static_cast<char>('0' + micros % 1000 / 100),
                  static_cast<char>('0' + micros % 100 / 10), static_cast<char>('0' + micros % 10),
                  '\0'};
  absl::StrAppend(out, ",\"duration_ms\":", micros / 1000, ".", frac);
}

}  // namespace

const char* StatusCodeName(int code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  if (code < 0 || code > 16) return "UNKNOWN";
  return kNames[code];
}

namespace {

// `prefix` is the literal `,"key":`; keys need no escaping.
void Field(std::string* out, std::string_view prefix, std::string_view value) {
  out->append(prefix);
  AppendJsonString(out, value);
}

// One record as JSON appended to `out` (the per-call path: no allocation once `out` has grown).
void AppendAccessRecord(std::string* out, const AccessRecord& r) {
  out->append("{\"time\":");
  AppendTimestamp(out, r.time);
  Field(out, ",\"authority\":", r.authority);
  Field(out, ",\"peer\":", r.peer);
  Field(out, ",\"method\":", r.method);
  absl::StrAppend(out, ",\"code\":", r.code, ",\"status\":\"", StatusCodeName(r.code), "\"");
  AppendMillis(out, r.duration_ms);
  Field(out, ",\"user_agent\":", r.user_agent);
  Field(out, ",\"client_cn\":", r.client_cn);
  if (!r.principal.empty()) Field(out, ",\"principal\":", r.principal);
  if (!r.reason.empty()) Field(out, ",\"reason\":", r.reason);
  out->push_back('}');
}

}  // namespace

std::string FormatAccessRecord(const AccessRecord& r) {
  std::string out;
  out.reserve(320);
  AppendAccessRecord(&out, r);
  return out;
}

namespace {

constexpr size_t kWakeWriterBytes = size_t{256} * 1024;
constexpr size_t kMaxPendingBytes = size_t{16} * 1024 * 1024;
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
  thread_local std::string line;  // keeps its capacity: no allocation per call
  line.clear();
  AppendAccessRecord(&line, record);
  if (recent_ && !record.console_poll) recent_->Push(line);
  if (fd_ < 0) return;
  line.push_back('\n');
  std::unique_lock<std::mutex> lock(mu_);
  // Loss (counted) instead of back-pressure: a queue thread waiting here would stall every call
  // on its queue for as long as the destination does.
  if (pending_.size() >= kMaxPendingBytes) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  pending_.append(line);
  if (pending_.size() >= kWakeWriterBytes) wake_.notify_one();
}

void AccessLog::WriteOutLocked() {
  std::string batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(pending_);
  }
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
