// Boost.Asio ssl::contexts built from validated tls::CredentialSets: the one TLS context builder
// for the node's Asio listeners and dialers (the tunnel, the HTTPS console and XML-RPC).
//
// Reload without dropping connections: every connection keeps a shared_ptr to the context it was
// accepted (or dialled) with; a reload only swaps the pointer that *new* connections take. A set is
// validated by tls::LoadCredentialSet (parse, key matches cert, chain, expiry, CRL signer) before
// any context is built from it, so a half-written or mismatched pair never goes live: the previous
// context keeps serving and the refusal is reported.
#pragma once

#include <openssl/types.h>

#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "tls/credential_set.h"
#include "tls/peer_identity.h"
#include "tls/server_credentials.h"

namespace nodegate::tls {

enum class TlsRole { kServer, kClient };

// Builds a context: TLS 1.2+, no compression or renegotiation, our certificate chain and key, the
// CA as the only trust anchor, the CRL (leaf checked) when configured. Server role: `client_auth`
// decides whether client certificates are required, requested or not asked for; the CA's names are
// sent in the CertificateRequest, and session resumption is off so that every connection's client
// certificate is verified against the current CA and CRL. Client role: the peer is always verified
// against the CA (the server name is checked per connection by the caller).
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> BuildSslContext(const CredentialSet& set,
                                                                           TlsRole role,
                                                                           ClientAuth client_auth);

// The verified client certificate of a finished handshake (unauthenticated when none was presented
// or it did not verify). transport is "tls" for any non-null `ssl`.
PeerIdentity PeerIdentityFromSsl(const SSL* ssl);

// A server context that follows a credential source owned elsewhere (the node's
// CertificateReloader, which validates and publishes sets): the context is rebuilt only when the
// source returns a different set pointer, so a reload applies to the next handshake exactly as on
// the gRPC side.
class SslContextFollower {
 public:
  using Source = std::function<std::shared_ptr<const CredentialSet>()>;

  // Builds the first context now; `what` names the endpoint in errors ("http", "xmlrpc").
  // INVALID_ARGUMENT when there is no set, it cannot be used, or client_auth needs a CA and the
  // set has none.
  static absl::StatusOr<std::unique_ptr<SslContextFollower>> New(Source source,
                                                                 ClientAuth client_auth,
                                                                 std::string what);

  // The context for the next connection (the previous one while a new set cannot be built).
  // Thread-safe.
  std::shared_ptr<boost::asio::ssl::context> context();

 private:
  SslContextFollower(Source source, ClientAuth client_auth, std::string what)
      : source_(std::move(source)), client_auth_(client_auth), what_(std::move(what)) {}

  const Source source_;
  const ClientAuth client_auth_;
  const std::string what_;
  std::mutex mu_;
  std::shared_ptr<const CredentialSet> set_;  // the set context_ was built from
  std::shared_ptr<boost::asio::ssl::context> context_;
};

// A context that follows TLS files (the tunnel's own cert/key/ca/crl): Refresh() re-reads them when
// their stat() signature changed, validates, and swaps.
class TlsContextSource {
 public:
  struct Options {
    TlsFiles files;
    TlsRole role = TlsRole::kServer;
    ClientAuth client_auth = ClientAuth::kRequire;
  };

  // Loads and validates the files now; any error is a start-up error.
  static absl::StatusOr<std::unique_ptr<TlsContextSource>> New(const Options& options);

  // The context for the next connection. Thread-safe.
  std::shared_ptr<boost::asio::ssl::context> context() const;
  std::shared_ptr<const CredentialSet> credentials() const;

  // Re-reads the files when their stat() signature changed (always with `force`). OK when nothing
  // changed or the new set is live; the validation error when a changed set was refused (the old
  // context stays). Thread-safe.
  absl::Status Refresh(bool force = false);

  uint64_t reloads_ok() const;
  uint64_t reloads_failed() const;

 private:
  explicit TlsContextSource(const Options& options) : options_(options) {}
  std::string StatSignature() const;

  const Options options_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::shared_ptr<const CredentialSet> credentials_;
  std::string stat_signature_;
  uint64_t reloads_ok_ = 0;
  uint64_t reloads_failed_ = 0;
};

}  // namespace nodegate::tls
