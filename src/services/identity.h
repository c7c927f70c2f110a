// nodegate.v1.Identity: WhoAmI returns the caller's Principal as this node sees it; Ping is public.
#pragma once

#include <memory>
#include <string>

#include "auth/authorizer.h"
#include "nodegate/v1/identity.grpc.pb.h"

namespace nodegate::services {

class IdentityService final : public nodegate::v1::Identity::CallbackService {
 public:
  IdentityService(std::string node_id, std::shared_ptr<const auth::Authorizer> authorizer)
      : node_id_(std::move(node_id)), authorizer_(std::move(authorizer)) {}

  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context,
                                   const nodegate::v1::WhoAmIRequest* request,
                                   nodegate::v1::WhoAmIResponse* response) override;
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context,
                                 const nodegate::v1::PingRequest* request,
                                 nodegate::v1::PingResponse* response) override;

 private:
  const std::string node_id_;
  const std::shared_ptr<const auth::Authorizer> authorizer_;
};

}  // namespace nodegate::services
