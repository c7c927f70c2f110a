#include "cli/client_flags.h"

#include "auth/call_credentials.h"
#include "base/files.h"
#include "cli/commands.h"
#include "crypto/key.h"
#include "crypto/signer_factory.h"
#include "server/config.h"
#include "tls/dial_diagnosis.h"

namespace nodegate::cli {

void AddClientFlags(CLI::App* cmd, ClientFlags* f) {
  cmd->add_option("--config,-c", f->config, "Client config (TOML, [client] table)");
  cmd->add_option("--target", f->target, "host:port of the node");
  cmd->add_option("--ca", f->ca, "CA bundle that the server certificate must chain to");
  cmd->add_option("--cert", f->cert, "Client certificate (mTLS)");
  cmd->add_option("--key", f->key, "Client key");
  cmd->add_option("--server-name", f->server_name, "Expected server name (default: from target)");
  cmd->add_option("--sign-key", f->sign_key,
                  "Sign every call (wire format v1) with this PEM private key; its algorithm is "
                  "detected from the key");
  cmd->add_option("--node-id", f->node_id, "Signing node id (x-node-id)");
  cmd->add_option("--audience", f->audience, "Id of the node being called (signed audience)");
  cmd->add_option("--token", f->token, "Access token");
  cmd->add_option("--token-header", f->token_header,
                  "bearer (authorization: Bearer) | access-token")
      ->capture_default_str();
  cmd->add_option("--app-key", f->app_key, "App key id");
  cmd->add_option("--app-secret", f->app_secret, "App secret");
  cmd->add_flag("--app-key-underscore", f->app_key_underscore,
                "Send app_key/app_secret (the seed's spelling) instead of app-key/app-secret");
}

void ApplyClientConfig(ClientFlags* f, const std::string& command) {
  if (f->config.empty()) return;
  absl::StatusOr<server::ClientConfig> c = server::LoadClientConfig(f->config);
  if (!c.ok()) Fail(command, std::string(c.status().message()), 2);
  auto pick = [](std::string& flag, const std::string& from_config) {
    if (flag.empty()) flag = from_config;
  };
  pick(f->target, c->target);
  pick(f->ca, c->ca);
  pick(f->cert, c->cert);
  pick(f->key, c->key);
  pick(f->server_name, c->server_name);
  pick(f->node_id, c->node_id);
  pick(f->audience, c->audience);
  pick(f->sign_key, c->sign_key);
  pick(f->token, c->token);
  pick(f->app_key, c->app_key);
  pick(f->app_secret, c->app_secret);
}

tls::ClientTlsOptions TlsOptions(const ClientFlags& f) {
  return tls::ClientTlsOptions{f.target, f.ca, f.cert, f.key, f.server_name};
}

std::string DialFailureHint(const ClientFlags& f, const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return "";
  const std::string why = tls::DiagnoseDialFailure(TlsOptions(f));
  return why.empty() ? "" : "\n" + why;
}

std::shared_ptr<grpc::CallCredentials> CallCredentials(const ClientFlags& f,
                                                       const std::string& command) {
  std::shared_ptr<grpc::CallCredentials> creds;
  auto add = [&](const std::shared_ptr<grpc::CallCredentials>& c) {
    creds = creds ? grpc::CompositeCallCredentials(creds, c) : c;
  };
  if (!f.sign_key.empty()) {
    if (f.node_id.empty()) Fail(command, "--sign-key needs --node-id (the signing node)", 2);
    if (f.audience.empty()) Fail(command, "--sign-key needs --audience (the called node's id)", 2);
    absl::StatusOr<std::string> pem = base::ReadFile(f.sign_key);
    if (!pem.ok()) Fail(command, std::string(pem.status().message()), 2);
    absl::StatusOr<crypto::Algorithm> alg = crypto::DetectAlgorithm(*pem);
    if (!alg.ok()) Fail(command, "--sign-key: " + std::string(alg.status().message()), 2);
    absl::StatusOr<std::unique_ptr<crypto::Signer>> signer = crypto::NewSigner(*alg, *pem);
    if (!signer.ok()) Fail(command, "--sign-key: " + std::string(signer.status().message()), 2);
    add(auth::NewSignatureCallCredentials(
        f.node_id, f.audience, std::shared_ptr<const crypto::Signer>(*std::move(signer))));
  }
  if (!f.token.empty()) {
    if (f.token_header != "bearer" && f.token_header != "access-token") {
      Fail(command, "--token-header: bearer or access-token", 2);
    }
    add(auth::NewTokenCallCredentials(f.token, f.token_header == "bearer"
                                                   ? auth::TokenHeader::kBearer
                                                   : auth::TokenHeader::kAccessToken));
  }
  if (!f.app_key.empty() || !f.app_secret.empty()) {
    if (f.app_key.empty() || f.app_secret.empty()) {
      Fail(command, "--app-key and --app-secret go together", 2);
    }
    add(auth::NewAppKeyCallCredentials(f.app_key, f.app_secret, f.app_key_underscore));
  }
  return creds;
}

}  // namespace nodegate::cli
