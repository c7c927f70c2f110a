#include "auth/credential_admin.h"

#include "absl/strings/str_cat.h"
#include "crypto/digest.h"
#include "crypto/encoding.h"
#include "crypto/random.h"
#include "crypto/signer_factory.h"

namespace nodegate::auth {

absl::StatusOr<std::string> NewSecret(std::string_view prefix, size_t bytes) {
  absl::StatusOr<std::string> raw = crypto::RandomBytes(bytes);
  if (!raw.ok()) return raw.status();
  return absl::StrCat(std::string(prefix), crypto::Base64UrlEncode(*raw));
}

absl::StatusOr<store::NodeRecord> RegisterNode(store::NodeStore& nodes, const std::string& id,
                                               const std::string& algorithm,
                                               const std::string& public_key_pem,
                                               const std::vector<std::string>& roles) {
  absl::StatusOr<crypto::Algorithm> alg = crypto::ParseAlgorithm(algorithm);
  if (!alg.ok()) return alg.status();
  absl::StatusOr<std::unique_ptr<crypto::Verifier>> verifier =
      crypto::NewVerifier(*alg, public_key_pem);
  if (!verifier.ok()) return verifier.status();
  store::NodeRecord r;
  r.id = id;
  r.algorithm = algorithm;
  r.public_key_pem = public_key_pem;
  r.roles = roles;
  r.enabled = true;
  return nodes.Create(r);
}

absl::StatusOr<IssuedToken> IssueAccessToken(store::CredentialStore& store,
                                             const std::string& principal, const std::string& kind,
                                             const std::vector<std::string>& roles,
                                             absl::Duration ttl) {
  if (ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("ttl: must not be negative");
  absl::StatusOr<std::string> token = NewSecret("ngt_");
  if (!token.ok()) return token.status();
  store::AccessToken t;
  t.token_hash = crypto::Sha256Hex(*token);
  t.principal = principal;
  t.kind = kind;
  t.roles = roles;
  t.expires_at = ttl == absl::ZeroDuration() ? absl::InfiniteFuture() : absl::Now() + ttl;
  absl::StatusOr<store::AccessToken> stored = store.CreateAccessToken(t);
  if (!stored.ok()) return stored.status();
  return IssuedToken{*std::move(token), *std::move(stored)};
}

absl::StatusOr<IssuedAppKey> IssueAppKey(store::CredentialStore& store, std::string app_key,
                                         const std::string& principal,
                                         const std::vector<std::string>& roles) {
  if (app_key.empty()) {
    absl::StatusOr<std::string> id = NewSecret("ngk_", 12);
    if (!id.ok()) return id.status();
    app_key = *std::move(id);
  }
  absl::StatusOr<std::string> secret = NewSecret("ngs_");
  if (!secret.ok()) return secret.status();
  store::AppKey k;
  k.app_key = app_key;
  k.secret_hash = crypto::Sha256Hex(*secret);
  k.principal = principal;
  k.roles = roles;
  k.enabled = true;
  absl::StatusOr<store::AppKey> stored = store.CreateAppKey(k);
  if (!stored.ok()) return stored.status();
  return IssuedAppKey{std::move(app_key), *std::move(secret), *std::move(stored)};
}

}  // namespace nodegate::auth

namespace nodegate::auth {

absl::StatusOr<IssuedJoinToken> IssueJoinToken(store::CredentialStore& store,
                                               const std::string& node_id,
                                               const std::vector<std::string>& roles,
                                               absl::Duration ttl) {
  if (ttl <= absl::ZeroDuration() || ttl > absl::Hours(24 * 30)) {
    return absl::InvalidArgumentError("ttl: a join token must expire, within 30 days");
  }
  absl::StatusOr<std::string> token = NewSecret("ngj_");
  if (!token.ok()) return token.status();
  store::JoinToken t;
  t.token_hash = crypto::Sha256Hex(*token);
  t.node_id = node_id;
  t.roles = roles;
  t.expires_at = absl::Now() + ttl;
  absl::StatusOr<store::JoinToken> stored = store.CreateJoinToken(t);
  if (!stored.ok()) return stored.status();
  return IssuedJoinToken{*std::move(token), *std::move(stored)};
}

}  // namespace nodegate::auth
