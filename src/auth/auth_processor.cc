#include "auth/auth_processor.h"

namespace nodegate::auth {
namespace {

std::string_view Get(const grpc::AuthMetadataProcessor::InputMetadata& md, const char* key) {
  auto it = md.find(key);
  if (it == md.end()) return {};
  return std::string_view(it->second.data(), it->second.size());
}

}  // namespace

grpc::Status AuthProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                                    OutputMetadata* /*consumed_auth_metadata*/,
                                    OutputMetadata* /*response_metadata*/) {
  // Secrets are deliberately not "consumed": handlers re-derive the call's Principal from the same
  // metadata (the AuthContext is per connection and must not carry per-call state, design §7).
  std::string_view method = Get(auth_metadata, ":path");
  tls::PeerIdentity peer = tls::PeerIdentityFrom(context);
  Decision d = authorizer_->Authorize(method, auth_metadata, peer, absl::Now());
  if (!d.status.ok() && on_reject_) {
    on_reject_(RejectedCall{method, Get(auth_metadata, ":authority"),
                            Get(auth_metadata, "user-agent"), &peer, &d});
  }
  return d.status;
}

}  // namespace nodegate::auth
