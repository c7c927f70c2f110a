#include "auth/call_principal.h"

namespace nodegate::auth {

Principal CallPrincipal(const Authorizer& authorizer, const grpc::ServerContextBase& context,
                        std::string_view full_method) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  tls::PeerIdentity peer = tls::PeerIdentityFrom(auth.get());
  return authorizer.Derive(full_method, context.client_metadata(), peer, absl::Now());
}

}  // namespace nodegate::auth
