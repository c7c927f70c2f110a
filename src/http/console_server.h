// The node's HTTPS listener for the web console and JSON gateway ([http] in the node config): the
// bounded HttpsServer in front of http::Gateway, started and stopped with the gRPC server.
//
// TLS follows the node's reloaded credentials: the server certificate, the CA that verifies client
// certificates and the CRL come from `credentials()` (one context per published set), so a
// certificate rotated on disk is served here exactly when gRPC serves it. TLS session resumption
// is off: every connection's client certificate is verified against the current CA and CRL.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "http/gateway.h"
#include "http/https_limits.h"
#include "http/https_server.h"
#include "observe/handshake_log.h"
#include "observe/metrics.h"
#include "tls/credential_set.h"
#include "tls/server_credentials.h"

namespace nodegate::http {

struct ConsoleServerOptions {
  std::string listen = "127.0.0.1:8444";  // host:port; port 0 picks a free one
  // require: no handshake without a valid client certificate; request: verified when presented
  // (browsers may then log in with a token); none: not asked for. Never "open": the gateway's
  // routes still need a principal unless a rule makes them public.
  tls::ClientAuth client_auth = tls::ClientAuth::kRequest;
  std::function<std::shared_ptr<const tls::CredentialSet>()> credentials;  // required
  // Connection, time and size limits ([http] keys); limits.max_body_bytes bounds request bodies.
  HttpsLimits limits;
  std::shared_ptr<observe::Metrics>
      metrics;  // optional: the limit trips under nodegate_http_edge_*
  std::shared_ptr<observe::HandshakeLog> handshake_log;  // optional: refused handshakes
};

class ConsoleServer {
 public:
  // Binds (errors name http.listen) and starts serving on background threads.
  static absl::StatusOr<std::unique_ptr<ConsoleServer>> Start(ConsoleServerOptions options,
                                                              std::shared_ptr<Gateway> gateway);
  ~ConsoleServer();

  // "host:port" actually bound.
  const std::string& address() const { return server_->address(); }
  HttpsServerStats stats() const { return server_->stats(); }
  // Stops accepting, closes connections and waits for running requests. Idempotent.
  void Stop();

 private:
  ConsoleServer() = default;
  std::shared_ptr<Gateway> gateway_;
  std::unique_ptr<HttpsServer> server_;
};

}  // namespace nodegate::http
