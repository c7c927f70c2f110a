// The library's client channel factory: target + CA + client certificate (+ optional per-call
// credentials such as signatures or tokens) → a gRPC channel over TLS/mTLS.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace nodegate::tls {

struct ClientTlsOptions {
  std::string target;       // host:port
  std::string ca_file;      // PEM bundle the server must chain to; required
  std::string cert_file;    // client certificate (mTLS); empty = no client certificate
  std::string key_file;     // its key; required with cert_file
  std::string server_name;  // name checked against the server certificate; empty = from target
};

// Reads the files (errors name them) and builds channel credentials.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> NewChannelCredentials(
    const ClientTlsOptions& options);

// A new channel (its own connection: channels made here never share a subchannel).
// `call_credentials` may be null.
absl::StatusOr<std::shared_ptr<grpc::Channel>> NewChannel(
    const ClientTlsOptions& options,
    const std::shared_ptr<grpc::CallCredentials>& call_credentials = nullptr);

}  // namespace nodegate::tls
