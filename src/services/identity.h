// nodegate.v1.Identity: WhoAmI returns the caller's Principal as this node sees it; Ping (public)
// returns the node's id and wall clock.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "base/clock.h"
#include "nodegate/v1/identity.pb.h"
#include "rpc/method_table.h"

namespace nodegate::services {

class IdentityService {
 public:
  // `clock` (not owned) gives Ping's unix_time_ms.
  explicit IdentityService(std::string node_id, base::Clock* clock = &base::Clock::Real())
      : node_id_(std::move(node_id)), clock_(clock) {}

  // Adds nodegate.v1.Identity's methods to `table`.
  void Register(rpc::MethodTable& table);

  // Reports call.principal: the one the Authorizer verified for this very call.
  absl::Status WhoAmI(const rpc::CallInfo& call, const nodegate::v1::WhoAmIRequest& request,
                      nodegate::v1::WhoAmIResponse* response);
  absl::Status Ping(const rpc::CallInfo& call, const nodegate::v1::PingRequest& request,
                    nodegate::v1::PingResponse* response);

 private:
  const std::string node_id_;
  base::Clock* const clock_;
};

}  // namespace nodegate::services
