#include "auth/store_credential_source.h"

#include "absl/strings/str_cat.h"
#include "crypto/encoding.h"
#include "crypto/signer_factory.h"
#include "spdlog/spdlog.h"

namespace nodegate::auth {

absl::StatusOr<uint64_t> CredentialGeneration(store::NodeStore& node_store,
                                              store::CredentialStore& credential_store) {
  absl::StatusOr<uint64_t> nodes = node_store.Generation();
  if (!nodes.ok()) return nodes.status();
  absl::StatusOr<uint64_t> credentials = credential_store.Generation();
  if (!credentials.ok()) return credentials.status();
  // Both counters only grow (every write bumps one in its own transaction), so their sum grows
  // too: a snapshot loaded after reading G includes every write that a reader of G had seen.
  // `nodegate node add` & co. wait for the node to report a generation >= the one after their
  // write (/readyz credential_generation).
  return *nodes + *credentials;
}

absl::StatusOr<uint64_t> StoreCredentialSource::Generation() {
  return CredentialGeneration(*nodes_, *credentials_);
}

absl::StatusOr<CredentialSnapshot> StoreCredentialSource::Load() {
  CredentialSnapshot snap;
  std::string page_token;
  do {
    absl::StatusOr<store::NodePage> page = nodes_->List(1000, page_token);
    if (!page.ok()) return page.status();
    for (const store::NodeRecord& r : page->records) {
      NodeCredential n;
      n.id = r.id;
      n.enabled = r.enabled;
      n.roles = r.roles;
      n.cert_serial = r.cert_serial;
      absl::StatusOr<crypto::Algorithm> alg = crypto::ParseAlgorithm(r.algorithm);
      absl::StatusOr<std::unique_ptr<crypto::Verifier>> v =
          alg.ok() ? crypto::NewVerifier(*alg, r.public_key_pem)
                   : absl::StatusOr<std::unique_ptr<crypto::Verifier>>(alg.status());
      if (v.ok()) {
        n.verifier = std::shared_ptr<const crypto::Verifier>(*std::move(v));
      } else {
        // The node stays known (mTLS may still name it) but cannot sign.
        spdlog::error("node {}: stored public key unusable: {}", r.id,
                      std::string(v.status().message()));
      }
      if (!r.previous_public_key_pem.empty() && r.previous_key_valid_until > absl::Now()) {
        absl::StatusOr<crypto::Algorithm> palg = crypto::ParseAlgorithm(r.previous_algorithm);
        if (palg.ok()) {
          auto pv = crypto::NewVerifier(*palg, r.previous_public_key_pem);
          if (pv.ok()) {
            n.previous_verifier = std::shared_ptr<const crypto::Verifier>(*std::move(pv));
            n.previous_valid_until = r.previous_key_valid_until;
          }
        }
      }
      snap.nodes.emplace(r.id, std::move(n));
    }
    page_token = page->next_page_token;
  } while (!page_token.empty());

  absl::StatusOr<std::vector<store::AccessToken>> tokens = credentials_->ListAccessTokens();
  if (!tokens.ok()) return tokens.status();
  for (const store::AccessToken& t : *tokens) {
    absl::StatusOr<std::string> raw = crypto::HexDecode(t.token_hash);
    absl::StatusOr<Principal::Kind> kind = ParseKind(t.kind);
    if (!raw.ok() || !kind.ok()) continue;
    TokenCredential c{*raw, *kind, t.principal, t.roles, t.expires_at};
    snap.tokens.emplace(*std::move(raw), std::move(c));
  }
  absl::StatusOr<std::vector<store::AppKey>> apps = credentials_->ListAppKeys();
  if (!apps.ok()) return apps.status();
  for (const store::AppKey& a : *apps) {
    absl::StatusOr<std::string> raw = crypto::HexDecode(a.secret_hash);
    if (!raw.ok()) continue;
    snap.apps.emplace(a.app_key, AppCredential{*std::move(raw), a.principal, a.roles, a.enabled});
  }
  return snap;
}

}  // namespace nodegate::auth
