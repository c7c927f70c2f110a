// Tells an RPC's own failure (the node answered with a gRPC status) from a local one (a .proto that
// does not parse, JSON that does not fit the message): the CLI exits 64 + the gRPC code for the
// first, as grpcurl does, and 1 or 2 for the second.
#pragma once

#include <grpcpp/support/status.h>

#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace nodegate::client {

// `status` (not OK) as an absl::Status with the same code and "<context>: <message>", marked as
// the node's answer.
absl::Status FromRpcStatus(const grpc::Status& status, std::string_view context);

// The gRPC code of a status made by FromRpcStatus; nullopt for any other status (OK included).
std::optional<grpc::StatusCode> RpcCode(const absl::Status& status);

// "UNAUTHENTICATED", … as gRPC's documentation spells the codes; "UNKNOWN_CODE" for a number
// outside 0..16.
const char* StatusCodeName(int code);

}  // namespace nodegate::client
