// The verified peer certificate of a call, as seen through gRPC's AuthContext.
#pragma once

#include <string>

#include <grpcpp/security/auth_context.h>

namespace nodegate::tls {

struct PeerIdentity {
  bool authenticated = false;  // a client certificate was presented and verified
  std::string common_name;
  std::string spiffe_id;  // first spiffe:// URI SAN, if any
  std::string transport;  // gRPC's transport_security_type: "ssl", "tls", "local", …
};

// Reads the connection's certificate properties. Safe on a null context (unauthenticated).
PeerIdentity PeerIdentityFrom(const grpc::AuthContext* context);

}  // namespace nodegate::tls
