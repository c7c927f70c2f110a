// Renders an nginx configuration that terminates mTLS in front of a node and forwards the verified
// client certificate (docs/deploy.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config.h"

namespace nodegate::deploy {

struct NginxOptions {
  std::string listen = "0.0.0.0:443";  // where nginx accepts clients
  // "grpcs": nginx → node over TLS with its own client certificate (recommended; the node trusts
  // the header because it knows the proxy by its certificate). "h2c": nginx → grpc.local_listen on
  // loopback (the node must set auth.forwarded.trust_local).
  std::string backend = "grpcs";
  // HOST:PORT of each replica of the node (same node.id and store.url, docs/deploy.md "Fleet"):
  // nginx spreads calls over them. grpcs: each replica's grpc.listen; h2c: each one's
  // grpc.local_listen, which only loopback peers reach, so h2c takes loopback addresses only.
  // Empty: the one address of the node config (grpc.listen, or grpc.local_listen for h2c).
  std::vector<std::string> replicas;
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

// OK if `address` is a HOST:PORT nginx can connect to: a name, an IPv4 address or a bracketed
// IPv6 address, and a port in 1..65535; with `loopback_only`, localhost, 127.0.0.0/8 or [::1].
// INVALID_ARGUMENT naming the value, what is wrong and the expected form otherwise.
absl::Status CheckReplicaAddress(std::string_view address, bool loopback_only);

absl::StatusOr<std::string> RenderNginx(const server::NodeConfig& node, const NginxOptions& o);

}  // namespace nodegate::deploy
