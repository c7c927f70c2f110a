// `nodegate doctor --config client.toml [--peer HOST:PORT]` (or a node's config with --peer): what
// a call from this side to a node will meet — the client's own files, then one TLS handshake (the
// server's chain and name, ALPN h2, its expiry) and one Ping (its node id and clock).
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "doctor/finding.h"
#include "tls/channel.h"

namespace nodegate::doctor {

struct PeerCheckOptions {
  absl::Time now;
  absl::Duration expiry_warning = absl::Hours(24 * 30);
  absl::Duration timeout = absl::Seconds(5);  // each of the handshake and the Ping
};

// What the calling side brings besides its TLS files.
struct CallerIdentity {
  std::string sign_key;  // PEM file that signs calls; empty = no signatures
  std::string audience;  // the node id signed calls are addressed to
};

// The client side's files: the CA bundle parses; the client certificate (when given) parses,
// matches its key, chains to the CA bundle (a warning only: the node may trust another CA), is
// inside its validity and carries clientAuth; the signing key parses.
std::vector<Finding> CheckClientFiles(const tls::ClientTlsOptions& tls,
                                      const CallerIdentity& caller,
                                      const PeerCheckOptions& options);

// One probing handshake with `tls.target` and, if it is accepted, one Ping.
std::vector<Finding> CheckPeer(const tls::ClientTlsOptions& tls, const CallerIdentity& caller,
                               const PeerCheckOptions& options);

// [client] of a client config → options and identity; `peer` (when not empty) replaces the
// target. The error names the file and field.
absl::Status LoadClientSide(const std::string& config_path, const std::string& peer,
                            tls::ClientTlsOptions* tls, CallerIdentity* caller);

}  // namespace nodegate::doctor
