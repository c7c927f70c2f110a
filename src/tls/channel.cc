#include "tls/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "tls/dial_diagnosis.h"

namespace nodegate::tls {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> NewChannelCredentials(
    const ClientTlsOptions& options) {
  if (options.ca_file.empty()) return absl::InvalidArgumentError("client: ca file is required");
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = base::ReadFile(options.ca_file);
  if (!ca.ok())
    return absl::Status(ca.status().code(), absl::StrCat("ca: ", ca.status().message()));
  ssl.pem_root_certs = *std::move(ca);
  if (!options.cert_file.empty() || !options.key_file.empty()) {
    // Said now: gRPC would only dump an internal error and report an "empty address list".
    if (absl::Status s = CheckClientIdentity(options); !s.ok()) return s;
    absl::StatusOr<std::string> cert = base::ReadFile(options.cert_file);
    if (!cert.ok()) {
      return absl::Status(cert.status().code(), absl::StrCat("cert: ", cert.status().message()));
    }
    absl::StatusOr<std::string> key = base::ReadFile(options.key_file);
    if (!key.ok()) {
      return absl::Status(key.status().code(), absl::StrCat("key: ", key.status().message()));
    }
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> NewChannel(
    const ClientTlsOptions& options,
    const std::shared_ptr<grpc::CallCredentials>& call_credentials) {
  if (options.target.empty()) return absl::InvalidArgumentError("client: target is empty");
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = NewChannelCredentials(options);
  if (!creds.ok()) return creds.status();
  std::shared_ptr<grpc::ChannelCredentials> channel_creds = *creds;
  if (call_credentials) {
    channel_creds = grpc::CompositeChannelCredentials(channel_creds, call_credentials);
  }
  grpc::ChannelArguments args;
  if (!options.server_name.empty()) {
    args.SetSslTargetNameOverride(options.server_name);
  }
  // A distinct arg keeps gRPC from reusing another channel's subchannel (and its TLS session),
  // so each channel made here does its own handshake.
  static std::atomic<int> channel_seq{0};
  args.SetInt("nodegate.channel_seq", channel_seq.fetch_add(1));
  return grpc::CreateCustomChannel(options.target, channel_creds, args);
}

}  // namespace nodegate::tls
