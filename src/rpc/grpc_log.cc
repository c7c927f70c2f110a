#include "rpc/grpc_log.h"

#include <grpc/support/log.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "observe/log_limiter.h"
#include "spdlog/spdlog.h"
#include "tls/handshake_failure.h"

namespace nodegate::rpc {
namespace {

std::atomic<uint64_t> handshake_failures{0};

std::mutex& HandshakeLogMu() {
  static auto* mu = new std::mutex;  // lives as long as gRPC
  return *mu;
}
std::shared_ptr<observe::HandshakeLog>& HandshakeLogSlot() {
  static auto* slot = new std::shared_ptr<observe::HandshakeLog>;
  return *slot;
}

// One of gRPC's handshake lines: counted and recorded by reason. True when recorded (then the
// raw line is left out: the record carries it).
bool RecordHandshakeLine(const char* message) {
  // gRPC logs "Certificate verify failed with code N" and then, on the same thread, the
  // "Handshake failed …" line for the same connection.
  thread_local long verify_code = 0;
  const long before = verify_code;
  std::optional<tls::HandshakeReason> reason = tls::ReasonFromGrpcLog(message, &verify_code);
  if (!reason.has_value() && verify_code == before) return false;
  // The "Handshake failed" line consumes the code, recorded or not (no log installed): a later
  // handshake on this thread must not inherit it.
  if (reason.has_value()) verify_code = 0;
  std::shared_ptr<observe::HandshakeLog> log;
  {
    std::lock_guard<std::mutex> lock(HandshakeLogMu());
    log = HandshakeLogSlot();
  }
  if (log == nullptr) return false;
  if (!reason.has_value()) return true;  // the verify code: said by the record that follows
  observe::HandshakeRefusal r;
  r.listener = "grpc";
  r.reason = std::string(tls::HandshakeReasonLabel(*reason));
  r.words = std::string(tls::HandshakeReasonWords(*reason));
  r.detail = message;
  log->Record(r, absl::Now());
  return true;
}

observe::LogLimiter& Limiter() {
  static auto* limiter = new observe::LogLimiter(absl::Seconds(1));  // lives as long as gRPC
  return *limiter;
}

void Route(gpr_log_func_args* args) {
  const char* message = args->message != nullptr ? args->message : "";
  // gRPC 1.51 says "Handshake failed with fatal error …" (security_handshaker.cc) for each
  // refused TLS peer: a bad, missing or revoked certificate, or a peer that is not TLS at all.
  if (std::strstr(message, "Handshake failed") != nullptr) {
    handshake_failures.fetch_add(1, std::memory_order_relaxed);
  }
  if (RecordHandshakeLine(message)) return;
  uint64_t held = 0;
  const std::string site = absl::StrCat(args->file != nullptr ? args->file : "?", ":", args->line);
  if (!Limiter().Admit(site, absl::Now(), &held)) return;
  const std::string suffix =
      held > 0 ? absl::StrCat(" (", held, " more like this suppressed)") : "";
  switch (args->severity) {
    case GPR_LOG_SEVERITY_ERROR:
      spdlog::error("grpc {}: {}{}", site, message, suffix);
      break;
    case GPR_LOG_SEVERITY_INFO:
      spdlog::info("grpc {}: {}{}", site, message, suffix);
      break;
    default:
      spdlog::debug("grpc {}: {}{}", site, message, suffix);
  }
}

}  // namespace

void RouteGrpcLogs() { gpr_set_log_function(Route); }

void SetGrpcHandshakeLog(std::shared_ptr<observe::HandshakeLog> log) {
  std::lock_guard<std::mutex> lock(HandshakeLogMu());
  HandshakeLogSlot() = std::move(log);
}

uint64_t HandshakeFailures() { return handshake_failures.load(std::memory_order_relaxed); }

uint64_t SuppressedGrpcLogLines() { return Limiter().total_suppressed(); }

}  // namespace nodegate::rpc
