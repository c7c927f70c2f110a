#include "services/identity.h"

#include "auth/principal.h"

namespace nodegate::services {

using nodegate::v1::PingRequest;
using nodegate::v1::PingResponse;
using nodegate::v1::WhoAmIRequest;
using nodegate::v1::WhoAmIResponse;

void IdentityService::Register(rpc::MethodTable& table) {
  // Both answer from memory (the Principal is already verified): inline.
  table.AddUnary<WhoAmIRequest, WhoAmIResponse>(
      "/nodegate.v1.Identity/WhoAmI", rpc::Execution::kInline,
      [this](const rpc::CallInfo& c, const WhoAmIRequest& r, WhoAmIResponse* out) {
        return WhoAmI(c, r, out);
      });
  table.AddUnary<PingRequest, PingResponse>("/nodegate.v1.Identity/Ping", rpc::Execution::kInline,
                                            [this](const rpc::CallInfo& c, const PingRequest& r,
                                                   PingResponse* out) { return Ping(c, r, out); });
}

absl::Status IdentityService::WhoAmI(const rpc::CallInfo& call, const WhoAmIRequest& /*request*/,
                                     WhoAmIResponse* response) {
  const auth::Principal& p = call.principal;
  response->set_kind(std::string(auth::KindName(p.kind)));
  response->set_id(p.id);
  for (const std::string& r : p.roles) response->add_roles(r);
  for (const std::string& a : auth::AuthenticatorList(p.authenticators)) {
    response->add_authenticators(a);
  }
  response->set_node_id(node_id_);
  return absl::OkStatus();
}

absl::Status IdentityService::Ping(const rpc::CallInfo& /*call*/, const PingRequest& /*request*/,
                                   PingResponse* response) {
  response->set_node_id(node_id_);
  response->set_unix_time_ms(absl::ToUnixMillis(clock_->Now()));
  return absl::OkStatus();
}

}  // namespace nodegate::services
