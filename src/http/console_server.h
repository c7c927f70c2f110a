// The node's HTTPS listener for the web console and JSON gateway ([http] in the node config): a
// cpp-httplib SSLServer in front of http::Gateway, started and stopped with the gRPC server.
//
// TLS follows the node's reloaded credentials: the server certificate, the CA that verifies client
// certificates and the CRL are taken from `credentials()` at every handshake (parsed once per
// published set), so a certificate rotated on disk is served here exactly when gRPC serves it.
// TLS session resumption is off: every connection's client certificate is verified against the
// current CA and CRL.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "http/https_tls.h"
#include "http/gateway.h"
#include "tls/credential_set.h"
#include "tls/server_credentials.h"

namespace httplib {
class SSLServer;
}

namespace nodegate::http {

struct ConsoleServerOptions {
  std::string listen = "127.0.0.1:8444";  // host:port; port 0 picks a free one
  // require: no handshake without a valid client certificate; request: verified when presented
  // (browsers may then log in with a token); none: not asked for. Never "open": the gateway's
  // routes still need a principal unless a rule makes them public.
  tls::ClientAuth client_auth = tls::ClientAuth::kRequest;
  std::function<std::shared_ptr<const tls::CredentialSet>()> credentials;  // required
  size_t max_body_bytes = 2 << 20;
};

class ConsoleServer {
 public:
  // Binds (errors name http.listen) and starts serving in a background thread.
  static absl::StatusOr<std::unique_ptr<ConsoleServer>> Start(ConsoleServerOptions options,
                                                              std::shared_ptr<Gateway> gateway);
  ~ConsoleServer();

  // "host:port" actually bound.
  const std::string& address() const { return address_; }
  // Stops accepting and waits for the serving thread. Idempotent.
  void Stop();

 private:
  ConsoleServer() = default;
  std::unique_ptr<HttpsTls> tls_;  // outlives server_ (declared first, destroyed last)
  std::shared_ptr<Gateway> gateway_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  std::string address_;
};

}  // namespace nodegate::http
