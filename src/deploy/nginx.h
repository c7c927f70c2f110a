// Renders an nginx configuration that terminates mTLS in front of a node and forwards the verified
// client certificate (docs/deploy.md).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "server/config.h"

namespace nodegate::deploy {

struct NginxOptions {
  std::string listen = "0.0.0.0:443";  // where nginx accepts clients
  // "grpcs": nginx → node over TLS with its own client certificate (recommended; the node trusts
  // the header because it knows the proxy by its certificate). "h2c": nginx → grpc.local_listen on
  // loopback (the node must set auth.forwarded.trust_local).
  std::string backend = "grpcs";
  std::string server_cert;  // nginx's certificate for clients; default: the node's tls.cert
  std::string server_key;
  std::string proxy_cert;  // nginx's client certificate towards the node (grpcs)
  std::string proxy_key;
  std::string backend_name = "localhost";  // name checked on the node's certificate (grpcs)
  bool underscores_in_headers = true;      // keeps the seed's app_key/app_secret metadata
  // A complete nginx.conf (events, http, pid, logs under `prefix`) instead of a conf.d snippet.
  bool standalone = false;
  std::string prefix;  // standalone: directory for pid, logs and temp files
};

absl::StatusOr<std::string> RenderNginx(const server::NodeConfig& node, const NginxOptions& o);

}  // namespace nodegate::deploy
