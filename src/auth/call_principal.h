// The Principal of the current call, for handlers and the access log. Derived from the call's
// metadata and peer certificate, which the auth hook already verified before the handler ran.
#pragma once

#include <grpcpp/server_context.h>

#include "auth/authorizer.h"

namespace nodegate::auth {

// `full_method` is the call's "/pkg.Service/Method" (a handler knows its own; interceptors have
// ServerRpcInfo::method()): the method's rule decides which credentials count.
Principal CallPrincipal(const Authorizer& authorizer, const grpc::ServerContextBase& context,
                        std::string_view full_method);

// The same, also handing back the peer identity it read (one AuthContext lookup per call).
Principal CallPrincipal(const Authorizer& authorizer, const grpc::ServerContextBase& context,
                        std::string_view full_method, tls::PeerIdentity* peer);

}  // namespace nodegate::auth
