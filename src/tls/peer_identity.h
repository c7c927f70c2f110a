// The verified peer certificate of a call, as seen through gRPC's AuthContext.
#pragma once

#include <grpcpp/security/auth_context.h>

#include <string>
#include <string_view>

namespace nodegate::tls {

struct PeerIdentity {
  bool authenticated = false;  // a client certificate was presented and verified
  std::string common_name;
  std::string spiffe_id;  // first spiffe:// URI SAN, if any
  std::string transport;  // gRPC's transport_security_type: "ssl", "tls", "local", …
  // The leaf certificate as the peer sent it, borrowed from the connection's AuthContext (valid
  // while the call runs; empty for a forwarded identity).
  std::string_view pem_cert;
  std::string serial_hex;  // known up front for a forwarded identity; else derived from pem_cert
};

// Reads the connection's certificate properties. Safe on a null context (unauthenticated).
PeerIdentity PeerIdentityFrom(const grpc::AuthContext* context);

}  // namespace nodegate::tls
