// Creating credentials: what `nodegate node|token|appkey` and the registry service call. Secrets
// are generated here (256-bit, from OpenSSL's DRBG), returned once, and only their SHA-256 is
// stored.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/credential_store.h"
#include "store/node_store.h"

namespace nodegate::auth {

// Registers a node's signing key after checking that it parses as a key for `algorithm`.
absl::StatusOr<store::NodeRecord> RegisterNode(store::NodeStore& nodes, const std::string& id,
                                               const std::string& algorithm,
                                               const std::string& public_key_pem,
                                               const std::vector<std::string>& roles);

struct IssuedToken {
  std::string token;  // shown once; "ngt_" + base64url(32 random bytes)
  store::AccessToken record;
};
// `ttl` zero = never expires.
absl::StatusOr<IssuedToken> IssueAccessToken(store::CredentialStore& store,
                                             const std::string& principal, const std::string& kind,
                                             const std::vector<std::string>& roles,
                                             absl::Duration ttl);

struct IssuedAppKey {
  std::string app_key;
  std::string app_secret;  // shown once; "ngs_" + base64url(32 random bytes)
  store::AppKey record;
};
// `app_key` empty = a random "ngk_…" id.
absl::StatusOr<IssuedAppKey> IssueAppKey(store::CredentialStore& store, std::string app_key,
                                         const std::string& principal,
                                         const std::vector<std::string>& roles);

struct IssuedJoinToken {
  std::string token;  // shown once; "ngj_" + base64url(32 random bytes)
  store::JoinToken record;
};
// A one-time token that lets `node_id` enrol (AddNode) once before `ttl` runs out.
absl::StatusOr<IssuedJoinToken> IssueJoinToken(store::CredentialStore& store,
                                               const std::string& node_id,
                                               const std::vector<std::string>& roles,
                                               absl::Duration ttl);

// A random secret with `prefix`: prefix + base64url(`bytes` random bytes).
absl::StatusOr<std::string> NewSecret(std::string_view prefix, size_t bytes = 32);

}  // namespace nodegate::auth
