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
  // Only a verified certificate yields properties: gRPC fills them after the chain verified.
  id.common_name = First(*context, "x509_common_name");
  id.authenticated = context->IsPeerAuthenticated() || !id.common_name.empty();
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
