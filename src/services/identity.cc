#include "services/identity.h"

#include "auth/call_principal.h"

namespace nodegate::services {

grpc::ServerUnaryReactor* IdentityService::WhoAmI(grpc::CallbackServerContext* context,
                                                  const nodegate::v1::WhoAmIRequest*,
                                                  nodegate::v1::WhoAmIResponse* response) {
  auth::Principal p =
      auth::CallPrincipal(*authorizer_, *context, "/nodegate.v1.Identity/WhoAmI");
  response->set_kind(std::string(auth::KindName(p.kind)));
  response->set_id(p.id);
  for (const std::string& r : p.roles) response->add_roles(r);
  for (const std::string& a : auth::AuthenticatorList(p.authenticators)) {
    response->add_authenticators(a);
  }
  response->set_node_id(node_id_);
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* IdentityService::Ping(grpc::CallbackServerContext* context,
                                                const nodegate::v1::PingRequest*,
                                                nodegate::v1::PingResponse* response) {
  response->set_node_id(node_id_);
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace nodegate::services
