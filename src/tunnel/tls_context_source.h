// A Boost.Asio ssl::context built from a validated tls::CredentialSet, rebuilt when the files change.
//
// Reload without dropping connections: every connection keeps a shared_ptr to the context it was
// accepted (or dialled) with; Refresh() only swaps the pointer that *new* connections take. A set
// is validated by tls::LoadCredentialSet (parse, key matches cert, chain, expiry, CRL signer) before
// any context is built from it, so a half-written or mismatched pair never goes live: the previous
// context keeps serving and the refusal is reported once.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "absl/status/statusor.h"
#include "tls/credential_set.h"
#include "tls/server_credentials.h"

namespace nodegate::tunnel {

enum class TlsRole { kServer, kClient };

// Builds a context: TLS 1.2+, our certificate chain and key, the CA as the only trust anchor, the
// CRL (leaf checked) when configured. Server role: `client_auth` decides whether client
// certificates are required, requested or not asked for. Client role: the peer is always verified
// against the CA (the server name is checked per connection, see proxy.cc).
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> BuildSslContext(
    const tls::CredentialSet& set, TlsRole role, tls::ClientAuth client_auth);

class TlsContextSource {
 public:
  struct Options {
    tls::TlsFiles files;
    TlsRole role = TlsRole::kServer;
    tls::ClientAuth client_auth = tls::ClientAuth::kRequire;
  };

  // Loads and validates the files now; any error is a start-up error.
  static absl::StatusOr<std::unique_ptr<TlsContextSource>> New(const Options& options);

  // The context for the next connection. Thread-safe.
  std::shared_ptr<boost::asio::ssl::context> context() const;
  std::shared_ptr<const tls::CredentialSet> credentials() const;

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
  std::shared_ptr<const tls::CredentialSet> credentials_;
  std::string stat_signature_;
  uint64_t reloads_ok_ = 0;
  uint64_t reloads_failed_ = 0;
};

}  // namespace nodegate::tunnel
