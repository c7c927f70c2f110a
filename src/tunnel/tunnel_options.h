// What a tunnel (server or client) or the echo peer is told at start. Plain data; validated by the
// Start functions, which name the offending field.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "tls/credential_set.h"
#include "tls/server_credentials.h"
#include "tunnel/allow_list.h"

namespace nodegate::tunnel {

struct TunnelOptions {
  std::string name = "tunnel";  // prefix of every log line ("tunnel[web]")
  std::string listen;           // host:port; port 0 = ephemeral (see address())
  std::string target;           // host:port dialled for every accepted connection (not for echo)

  // Our certificate and key, the CA that verifies the peer, an optional CRL. Re-read every
  // `reload_interval` (stat-polled); a changed set is validated before new connections use it.
  tls::TlsFiles files;
  absl::Duration reload_interval = absl::Seconds(1);

  // Tunnel server / echo: what is asked of clients. Tunnel server default: require (mTLS).
  tls::ClientAuth client_auth = tls::ClientAuth::kRequire;
  // Tunnel server: who may pass (see allow_list.h for absent vs given).
  AllowList allow;
  // Used to derive node ids from certificates (spiffe://<trust_domain>/node/<id>).
  std::string trust_domain = "nodegate.local";

  // Tunnel client: the name the server's certificate must carry (DNS or IP SAN), also sent as SNI
  // when it is a DNS name. Empty = the host part of `target`.
  std::string server_name;

  // A connection with no byte moving either way for this long is closed ("idle").
  absl::Duration idle_timeout = absl::Minutes(5);
  // Bound on TCP connect + TLS handshake.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Accepted connections over this many open ones are closed at once ("refused: connection limit").
  int max_connections = 1024;
};

}  // namespace nodegate::tunnel
