#include "tls/peer_identity.h"

namespace nodegate::tls {
PeerIdentity PeerIdentityFrom(const grpc::AuthContext* context) {
  PeerIdentity id;
  if (context == nullptr) return id;
  // Only a verified certificate yields x509 properties (gRPC fills them after the chain verified).
  // IsPeerAuthenticated() alone is not enough: local-TCP credentials report an authenticated peer
  // without any certificate. One pass over the properties: this runs for every call.
  bool have_cn = false, have_transport = false;
  for (const grpc::AuthProperty& p : *context) {
    std::string_view name(p.first.data(), p.first.size());
    std::string_view value(p.second.data(), p.second.size());
    if (name == "x509_common_name") {
      if (!have_cn) id.common_name.assign(value), have_cn = true;
    } else if (name == "x509_pem_cert") {
      if (!id.authenticated) id.pem_cert = value, id.authenticated = true;
    } else if (name == "transport_security_type") {
      if (!have_transport) id.transport.assign(value), have_transport = true;
    } else if (name == "peer_uri") {
      if (id.spiffe_id.empty() && value.rfind("spiffe://", 0) == 0) id.spiffe_id.assign(value);
    }
  }
  return id;
}

}  // namespace nodegate::tls
