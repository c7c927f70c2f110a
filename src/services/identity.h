// nodegate.v1.Identity: WhoAmI returns the caller's Principal as this node sees it; Ping is public.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "nodegate/v1/identity.pb.h"
#include "rpc/method_table.h"

namespace nodegate::services {

class IdentityService {
 public:
  explicit IdentityService(std::string node_id) : node_id_(std::move(node_id)) {}

  // Adds nodegate.v1.Identity's methods to `table`.
  void Register(rpc::MethodTable& table);

  // Reports call.principal: the one the Authorizer verified for this very call.
  absl::Status WhoAmI(const rpc::CallInfo& call, const nodegate::v1::WhoAmIRequest& request,
                      nodegate::v1::WhoAmIResponse* response);
  absl::Status Ping(const rpc::CallInfo& call, const nodegate::v1::PingRequest& request,
                    nodegate::v1::PingResponse* response);

 private:
  const std::string node_id_;
};

}  // namespace nodegate::services
