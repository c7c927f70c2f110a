// A running nodegate node: config → TLS (hot reload) → gRPC server with its services.
// Reads top to bottom like ghostunnel's main flow: Create (validate + bind), Wait, Reload,
// Shutdown.
#pragma once

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "auth/policy.h"
#include "observe/metrics.h"
#include "server/config.h"

namespace nodegate::server {

// Full names of the services a node serves, and their full method paths.
const std::vector<std::string>& ServedServices();
std::vector<std::string> ServedMethods();
// The effective policy for `config`: config rules over (nodegate.v1.auth) options over defaults.
absl::StatusOr<std::shared_ptr<const auth::Policy>> BuildPolicy(const NodeConfig& config);

class Node {
 public:
  // Validates everything (files, certificates, listen address) and starts serving.
  static absl::StatusOr<std::unique_ptr<Node>> Create(const NodeConfig& config);
  ~Node();

  // "host:port" actually bound (resolves port 0).
  const std::string& grpc_address() const { return grpc_address_; }
  // The plaintext loopback listener's address; empty when grpc.local_listen is unset.
  const std::string& local_address() const { return local_address_; }
  // The HTTPS console/gateway's address; empty when http.listen is unset.
  const std::string& http_address() const { return http_address_; }

  // The XML-RPC (HTTPS) listener's address; empty when xmlrpc.listen is unset (issue 5).
  const std::string& xmlrpc_address() const { return xmlrpc_address_; }

  // Call counters, latency histograms and the node's gauges (served at /metrics).
  std::shared_ptr<observe::Metrics> metrics() const;

  // SIGHUP: re-checks the TLS files now and re-reads the policy rules ([[auth.rule]]) from the
  // config file the node was created from. Each part either takes effect whole or keeps what was
  // in force; the error says which part was refused and why (file, field, rule). Other config keys
  // take effect on restart only.
  absl::Status Reload();
  // The policy half of Reload(): parses the config file again, builds the policy and swaps it in
  // for calls that start afterwards. On any error the previous policy stays.
  absl::Status ReloadPolicy();
  // Stops accepting calls, lets in-flight calls finish until `grace`, then cancels the rest.
  void Shutdown(absl::Duration grace);

 private:
  Node() = default;

 public:
  struct Parts;  // the assembled pieces; defined in node.cc

 private:
  std::unique_ptr<Parts> parts_;
  std::string grpc_address_;
  std::string local_address_;
  std::string xmlrpc_address_;  // issue 5
  std::string http_address_;
};

}  // namespace nodegate::server
