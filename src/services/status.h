// absl::Status (module edges) → grpc::Status (the RPC boundary), code for code.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace nodegate::services {

grpc::Status ToGrpc(const absl::Status& status);

// Finishes a unary callback-API call with `status` (the default reactor; handlers here are
// synchronous functions of their request).
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, const grpc::Status& status);

}  // namespace nodegate::services
