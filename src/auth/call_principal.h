// The Principal of the current call, for handlers and the access log. Derived from the call's
// metadata and peer certificate, which the auth hook already verified before the handler ran.
#pragma once

#include <grpcpp/server_context.h>

#include "auth/authorizer.h"

namespace nodegate::auth {

Principal CallPrincipal(const Authorizer& authorizer, const grpc::ServerContextBase& context);

}  // namespace nodegate::auth
