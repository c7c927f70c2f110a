// api.DiceService (the seed's RollDie). The rule lives in RollDieValue(); DiceService adds it to an
// rpc::MethodTable.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/dice.pb.h"
#include "rpc/method_table.h"

namespace nodegate::services {

// A uniform face in 1..6 from OpenSSL's DRBG (no modulo bias).
absl::StatusOr<int> RollDieValue();

class DiceService {
 public:
  // Adds api.DiceService's methods to `table`.
  void Register(rpc::MethodTable& table);

  absl::Status RollDie(const rpc::CallInfo& call, const api::RollDieRequest& request,
                       api::RollDieResponse* response);
};

}  // namespace nodegate::services
