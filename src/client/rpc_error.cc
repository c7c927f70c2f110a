#include "client/rpc_error.h"

#include <array>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nodegate::client {
namespace {

// The payload's value is the decimal gRPC code; its presence is what marks the status.
constexpr char kRpcPayload[] = "type.nodegate.dev/nodegate.client.RpcStatus";

}  // namespace

absl::Status FromRpcStatus(const grpc::Status& status, std::string_view context) {
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()),
                   absl::StrCat(absl::string_view(context.data(), context.size()), ": ",
                                status.error_message()));
  out.SetPayload(kRpcPayload, absl::Cord(absl::StrCat(static_cast<int>(status.error_code()))));
  return out;
}

std::optional<grpc::StatusCode> RpcCode(const absl::Status& status) {
  const auto payload = status.GetPayload(kRpcPayload);  // absl::optional: not std:: on Debian
  int code = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &code)) return std::nullopt;
  return static_cast<grpc::StatusCode>(code);
}

const char* StatusCodeName(int code) {
  static constexpr std::array<const char*, 17> kNames = {"OK",
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
  if (code >= 0 && code < static_cast<int>(kNames.size())) return kNames[code];
  return "UNKNOWN_CODE";
}

}  // namespace nodegate::client
