// api.DiceService (the seed's RollDie). The rule lives in RollDieValue(), independent of the gRPC
// server API; DiceService is the thin callback-API adapter.
#pragma once

#include "absl/status/statusor.h"
#include "api/dice.grpc.pb.h"

namespace nodegate::services {

// A uniform face in 1..6 from OpenSSL's DRBG (no modulo bias).
absl::StatusOr<int> RollDieValue();

class DiceService final : public api::DiceService::CallbackService {
 public:
  grpc::ServerUnaryReactor* RollDie(grpc::CallbackServerContext* context,
                                    const api::RollDieRequest* request,
                                    api::RollDieResponse* response) override;
};

}  // namespace nodegate::services
