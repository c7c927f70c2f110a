// `nodegate doctor --config node.toml` and `nodegate serve --check`: what a node's config file
// will meet when it starts, checked without starting it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "doctor/finding.h"
#include "tls/channel.h"

namespace nodegate::doctor {

struct NodeCheckOptions {
  absl::Time now;  // certificate and CRL validity are judged at this instant
  absl::Duration expiry_warning = absl::Hours(24 * 30);
  // The signed calls per second the replay cache must keep nonces for.
  double signed_per_second = 1000;
  // Bind each listen port; for a taken one, look at who holds it (a TLS handshake: this node, or
  // someone else?). Off for `serve --check`, which touches nothing outside the files.
  bool probe_ports = true;
  absl::Duration probe_timeout = absl::Seconds(3);
  // nginx configuration files to read for a grpc_pass to this node. Empty: the Debian layout
  // under nginx_dir (nginx.conf, conf.d/*.conf, sites-enabled/*), when it exists.
  bool check_nginx = true;
  std::vector<std::string> nginx_files;
  std::string nginx_dir = "/etc/nginx";
};

// In order: the config parses; the TLS files (each parses, key matches certificate, chain to
// tls.ca, CRL signed by it, as the node loads them), their expiry and the CRL's nextUpdate; the
// certificate's usages (serverAuth; clientAuth where it is also the console's client
// certificate); each listener's host among its names; http.client_cert and registry.ca_cert;
// the policy compiles and every config rule names a served method; the replay cache against the
// stated rate; the store opens; the listen ports are free or held by this node; an nginx in front
// forwards underscored headers when app keys are enabled. A config that does not parse ends the
// list there.
std::vector<Finding> CheckNode(const std::string& config_path, const NodeCheckOptions& options);

// How this node calls `peer` (node to node): its tls.cert and tls.key, verifying against tls.ca.
// The config's error when it does not parse.
absl::StatusOr<tls::ClientTlsOptions> NodeClientOptions(const std::string& config_path,
                                                        const std::string& peer);

}  // namespace nodegate::doctor
