// Plugs the Authorizer into gRPC's server credentials: gRPC 1.51 runs an AuthMetadataProcessor
// before any interceptor or handler, and a non-OK status fails the call with our code and message
// (facts §4). Non-blocking: it runs inline on the transport thread, so the Authorizer must stay
// CPU-only.
#pragma once

#include <grpcpp/security/auth_metadata_processor.h>

#include <functional>
#include <memory>

#include "auth/authorizer.h"

namespace nodegate::auth {

struct RejectedCall {
  std::string_view method;
  std::string_view authority;
  std::string_view user_agent;
  const tls::PeerIdentity* peer;
  const Decision* decision;
};

class AuthProcessor : public grpc::AuthMetadataProcessor {
 public:
  // `on_reject` sees each refused call (access log, counters); it must not block.
  AuthProcessor(std::shared_ptr<Authorizer> authorizer,
                std::function<void(const RejectedCall&)> on_reject)
      : authorizer_(std::move(authorizer)), on_reject_(std::move(on_reject)) {}

  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  std::shared_ptr<Authorizer> authorizer_;
  std::function<void(const RejectedCall&)> on_reject_;
};

}  // namespace nodegate::auth
