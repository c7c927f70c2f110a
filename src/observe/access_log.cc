#include "observe/access_log.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/async.h"
#include "spdlog/async_logger.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

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
  AppendJsonString(&out, absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", r.time, absl::UTCTimeZone()));
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

absl::StatusOr<std::shared_ptr<AccessLog>> AccessLog::Open(const std::string& destination,
                                                          std::shared_ptr<RecentLines> recent) {
  if (destination == "off" || destination.empty()) {
    auto log = std::shared_ptr<AccessLog>(new AccessLog(nullptr));
    log->recent_ = std::move(recent);
    return log;
  }
  spdlog::sink_ptr sink;
  try {  // spdlog reports errors by exception; they stop here.
    if (destination == "stdout") {
      sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    } else if (destination == "stderr") {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(destination, /*truncate=*/false);
    }
    auto pool = std::make_shared<spdlog::details::thread_pool>(65536, 1);
    // Block rather than drop when the queue is full: an access log that silently loses lines is
    // worse than a slower call under overload.
    auto logger = std::make_shared<spdlog::async_logger>(
        "access", sink, pool, spdlog::async_overflow_policy::block);
    logger->set_pattern("%v");
    logger->flush_on(spdlog::level::info);
    // The logger holds only a weak reference to its pool; AccessLog keeps the pool alive.
    auto log = std::shared_ptr<AccessLog>(new AccessLog(logger));
    log->pool_keepalive_ = pool;
    log->recent_ = std::move(recent);
    return log;
  } catch (const spdlog::spdlog_ex& e) {
    return absl::InvalidArgumentError(absl::StrCat("log.access_log: ", destination, ": ", e.what()));
  }
}

AccessLog::~AccessLog() { Flush(); }

void AccessLog::Write(const AccessRecord& record) {
  if (!logger_ && !recent_) return;
  std::string line = FormatAccessRecord(record);
  if (recent_) recent_->Push(logger_ ? line : std::move(line));
  if (logger_) logger_->info(line);
}

void AccessLog::Flush() {
  if (logger_) logger_->flush();
}

}  // namespace nodegate::observe
