#include "services/dice.h"

#include "crypto/random.h"

namespace nodegate::services {

absl::StatusOr<int> RollDieValue() {
  absl::StatusOr<int64_t> v = crypto::RandomUniform(1, 6);
  if (!v.ok()) return v.status();
  return static_cast<int>(*v);
}

grpc::ServerUnaryReactor* DiceService::RollDie(grpc::CallbackServerContext* context,
                                               const api::RollDieRequest* /*request*/,
                                               api::RollDieResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<int> value = RollDieValue();
  if (!value.ok()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, "dice: random source failed"));
    return reactor;
  }
  response->set_value(*value);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace nodegate::services
