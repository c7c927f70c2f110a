#include "rpc/grpc_log.h"

#include <grpc/support/log.h>

#include <atomic>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "observe/log_limiter.h"
#include "spdlog/spdlog.h"

namespace nodegate::rpc {
namespace {

std::atomic<uint64_t> handshake_failures{0};

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

uint64_t HandshakeFailures() { return handshake_failures.load(std::memory_order_relaxed); }

uint64_t SuppressedGrpcLogLines() { return Limiter().total_suppressed(); }

}  // namespace nodegate::rpc
