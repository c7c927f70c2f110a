#include "services/dice.h"

#include "crypto/random.h"

namespace nodegate::services {

absl::StatusOr<int> RollDieValue() {
  absl::StatusOr<int64_t> v = crypto::RandomUniform(1, 6);
  if (!v.ok()) return v.status();
  return static_cast<int>(*v);
}

void DiceService::Register(rpc::MethodTable& table) {
  // A DRBG draw takes microseconds and never waits: no reason to leave the core's thread.
  table.AddUnary<api::RollDieRequest, api::RollDieResponse>(
      "/api.DiceService/RollDie", rpc::Execution::kInline,
      [this](const rpc::CallInfo& c, const api::RollDieRequest& r, api::RollDieResponse* out) {
        return RollDie(c, r, out);
      });
}

absl::Status DiceService::RollDie(const rpc::CallInfo& /*call*/,
                                  const api::RollDieRequest& /*request*/,
                                  api::RollDieResponse* response) {
  absl::StatusOr<int> value = RollDieValue();
  if (!value.ok()) return absl::InternalError("dice: random source failed");
  response->set_value(*value);
  return absl::OkStatus();
}

}  // namespace nodegate::services
