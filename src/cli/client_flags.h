// The client flags `nodegate call` and `nodegate bench` share: where to connect, TLS files and the
// per-call credentials (signature, token, app key), optionally read from a client config file.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/support/status.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "tls/channel.h"

namespace nodegate::cli {

struct ClientFlags {
  std::string config, target, ca, cert, key, server_name;
  std::string sign_key, node_id, audience, token, token_header = "bearer", app_key, app_secret;
  bool app_key_underscore = false;
};

// Registers --config, --target, --ca, --cert, --key, --server-name and the credential flags.
void AddClientFlags(CLI::App* cmd, ClientFlags* flags);

// Fills flags left empty from the --config file (flags win), failing `command` with exit code 2 on
// a bad file.
void ApplyClientConfig(ClientFlags* flags, const std::string& command);

tls::ClientTlsOptions TlsOptions(const ClientFlags& flags);

// For a call that failed with UNAVAILABLE: "\n" + why, in a sentence (tls::DiagnoseDialFailure
// dials the node once more to find out); empty for other errors or when nothing known was found.
std::string DialFailureHint(const ClientFlags& flags, const grpc::Status& status);

// The per-call credentials the flags ask for (null when none); a signature is made afresh per call.
std::shared_ptr<grpc::CallCredentials> CallCredentials(const ClientFlags& flags,
                                                       const std::string& command);

}  // namespace nodegate::cli
