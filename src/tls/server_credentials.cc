#include "tls/server_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/str_cat.h"

namespace nodegate::tls {

absl::StatusOr<ClientAuth> ParseClientAuth(std::string_view value) {
  if (value == "require") return ClientAuth::kRequire;
  if (value == "request") return ClientAuth::kRequest;
  if (value == "none") return ClientAuth::kNone;
  return absl::InvalidArgumentError(absl::StrCat("tls.client_auth: '", std::string(value),
                                                 "' is not one of require, request, none"));
}

std::string_view ClientAuthName(ClientAuth mode) {
  switch (mode) {
    case ClientAuth::kRequire:
      return "require";
    case ClientAuth::kRequest:
      return "request";
    case ClientAuth::kNone:
      return "none";
  }
  return "unknown";
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> NewServerCredentials(
    const CertificateReloader& reloader, ClientAuth client_auth) {
  if (client_auth != ClientAuth::kNone && !reloader.has_ca()) {
    return absl::InvalidArgumentError(absl::StrCat("tls.ca: required when tls.client_auth = \"",
                                                   std::string(ClientAuthName(client_auth)), "\""));
  }
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (reloader.has_ca()) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        reloader.key_path(), reloader.cert_path(), reloader.ca_path(),
        reloader.refresh_interval_sec());
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        reloader.key_path(), reloader.cert_path(), reloader.refresh_interval_sec());
  }
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (reloader.has_ca()) options.watch_root_certs();
  switch (client_auth) {
    case ClientAuth::kRequire:
      options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      break;
    case ClientAuth::kRequest:
      options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
      break;
    case ClientAuth::kNone:
      options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
      break;
  }
  if (reloader.has_crl()) options.set_crl_directory(reloader.crl_dir());
  std::shared_ptr<grpc::ServerCredentials> creds =
      grpc::experimental::TlsServerCredentials(options);
  if (!creds) return absl::InternalError("gRPC refused the TLS server credentials options");
  return creds;
}

}  // namespace nodegate::tls
