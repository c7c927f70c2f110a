#include "tls/peer_identity.h"

namespace nodegate::tls {
namespace {

std::string First(const grpc::AuthContext& ctx, const char* name) {
  std::vector<grpc::string_ref> values = ctx.FindPropertyValues(name);
  if (values.empty()) return {};
  return std::string(values.front().data(), values.front().size());
}

}  // namespace

PeerIdentity PeerIdentityFrom(const grpc::AuthContext* context) {
  PeerIdentity id;
  if (context == nullptr) return id;
  // Only a verified certificate yields x509 properties (gRPC fills them after the chain verified).
  // IsPeerAuthenticated() alone is not enough: local-TCP credentials report an authenticated peer
  // without any certificate.
  id.common_name = First(*context, "x509_common_name");
  std::vector<grpc::string_ref> pem = context->FindPropertyValues("x509_pem_cert");
  id.authenticated = !pem.empty();
  if (id.authenticated) id.pem_cert = std::string_view(pem.front().data(), pem.front().size());
  id.transport = First(*context, "transport_security_type");
  for (const grpc::string_ref& uri : context->FindPropertyValues("peer_uri")) {
    std::string u(uri.data(), uri.size());
    if (u.rfind("spiffe://", 0) == 0) {
      id.spiffe_id = u;
      break;
    }
  }
  return id;
}

}  // namespace nodegate::tls
