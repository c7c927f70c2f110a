// TLS for the node's HTTPS endpoints (web console, XML-RPC) on cpp-httplib's SSLServer: the node's
// current validated credential set is looked up at every handshake, so a reload applies to the
// next connection exactly as on the gRPC side, and client certificates are verified against the
// same CA and CRL.
#pragma once

#include <openssl/ssl.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "tls/credential_set.h"
#include "tls/peer_identity.h"
#include "tls/server_credentials.h"

namespace httplib {
class Server;
}

namespace nodegate::http {

class HttpsTls {
 public:
  using Source = std::function<std::shared_ptr<const tls::CredentialSet>()>;

  // `what` names the endpoint in errors ("http", "xmlrpc"). INVALID_ARGUMENT when the current set
  // cannot be used for TLS.
  static absl::StatusOr<std::unique_ptr<HttpsTls>> New(Source credentials, std::string what);
  ~HttpsTls();

  // True when the current set has a CA (client certificates can be verified).
  bool has_ca();
  // Sets up an SSL_CTX (the SSLServer constructor's callback): TLS >= 1.2, no compression,
  // renegotiation or session resumption, the certificate chosen per handshake, client
  // certificates verified per `client_auth`. `this` must outlive the context.
  void Configure(SSL_CTX& ctx, tls::ClientAuth client_auth);

 private:
  struct Material;  // one credential set, parsed for OpenSSL
  explicit HttpsTls(Source credentials, std::string what)
      : credentials_(std::move(credentials)), what_(std::move(what)) {}
  std::shared_ptr<const Material> Current();
  static absl::StatusOr<std::shared_ptr<const Material>> Parse(const tls::CredentialSet& set,
                                                               const std::string& what);
  static int CertCallback(SSL* ssl, void* arg);

  Source credentials_;
  const std::string what_;
  std::mutex mu_;
  std::shared_ptr<const Material> current_;
};

// The verified client certificate of a connection (unauthenticated when there is none).
tls::PeerIdentity VerifiedPeer(const SSL* ssl);

// Binds `server` to `listen` (port 0 picks a free one), starts its accept loop on `*thread` and
// waits until it runs (httplib's stop() is a no-op before that, so a Stop() right after would
// hang). Returns the bound "host:port"; errors name `field`.
absl::StatusOr<std::string> BindAndServe(httplib::Server& server, const std::string& listen,
                                         std::string_view field, std::thread* thread);

// Splits "host:port" / "[v6]:port"; errors name `field`.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address,
                                                          std::string_view field);

}  // namespace nodegate::http
