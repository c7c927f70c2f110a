// absl::Status (module edges) → grpc::Status (the RPC boundary), code for code.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace nodegate::services {

grpc::Status ToGrpc(const absl::Status& status);

}  // namespace nodegate::services
