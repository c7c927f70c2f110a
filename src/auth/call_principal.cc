#include "auth/call_principal.h"

namespace nodegate::auth {

Principal CallPrincipal(const Authorizer& authorizer, const grpc::ServerContextBase& context,
                        std::string_view full_method) {
  tls::PeerIdentity peer;
  return CallPrincipal(authorizer, context, full_method, &peer);
}

Principal CallPrincipal(const Authorizer& authorizer, const grpc::ServerContextBase& context,
                        std::string_view full_method, tls::PeerIdentity* peer) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  *peer = tls::PeerIdentityFrom(auth.get());
  // The AuthContext owns the memory pem_cert points into; it does not outlive this call.
  Principal p = authorizer.Derive(full_method, context.client_metadata(), *peer, absl::Now());
  peer->pem_cert = {};
  return p;
}

}  // namespace nodegate::auth
