// Client identity forwarded by a TLS-terminating proxy (nginx: `grpc_set_header
// x-forwarded-client-cert $ssl_client_escaped_cert`). The forwarded certificate is verified here
// against the node's own CA — the proxy is trusted to forward, not to vouch — and the result is
// cached by the header's SHA-256, so a busy proxy connection costs one verification per client
// certificate, not per call.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/openssl_ptr.h"
#include "tls/credential_set.h"
#include "tls/peer_identity.h"

namespace nodegate::auth {

class ForwardedCertVerifier {
 public:
  // `trust` returns the node's current validated TLS set (its ca_pem is the trust anchor).
  using TrustSource = std::function<std::shared_ptr<const tls::CredentialSet>()>;
  explicit ForwardedCertVerifier(TrustSource trust) : trust_(std::move(trust)) {}

  // `header_value`: URL-escaped PEM (as nginx's $ssl_client_escaped_cert) or plain PEM.
  // UNAUTHENTICATED when it does not parse, is expired, or does not chain to the CA.
  absl::StatusOr<tls::PeerIdentity> Verify(std::string_view header_value, absl::Time now);

 private:
  struct Entry {
    tls::PeerIdentity identity;
    absl::Time not_after;
  };
  absl::Status RebuildStoreLocked(const tls::CredentialSet& set);

  TrustSource trust_;
  std::mutex mu_;
  std::string store_digest_;  // content_digest of the set the store was built from
  crypto::X509StorePtr store_;
  absl::flat_hash_map<std::string, Entry> cache_;  // by SHA-256 of the header value
};

}  // namespace nodegate::auth
