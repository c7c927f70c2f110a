// gRPC server credentials over a CertificateReloader's live files.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "tls/certificate_reloader.h"

namespace nodegate::tls {

enum class ClientAuth {
  kRequire,  // a client certificate from the CA is required (mTLS)
  kRequest,  // requested and verified when presented; clients without one are let through
  kNone,     // not requested
};

// "require" | "request" | "none".
absl::StatusOr<ClientAuth> ParseClientAuth(std::string_view value);
std::string_view ClientAuthName(ClientAuth mode);

// TLS server credentials whose key, certificate, CA and CRL follow `reloader`'s published set.
// The reloader must outlive the server.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> NewServerCredentials(
    const CertificateReloader& reloader, ClientAuth client_auth);

}  // namespace nodegate::tls
