// The one object that decides every call (design §1, §7): authenticate the call's credentials
// (mtls · signature · token · app_key) into a Principal, then apply the method's rule. CPU-only,
// against in-memory state (policy, credential snapshot, replay cache), so that it runs inline at
// the dispatch step of rpc::Server (and in the HTTP gateway and XML-RPC endpoint) before any
// service code. Its Decision is the call's only verdict: the Principal it carries is what the
// handler gets (rpc::CallInfo::principal); nothing derives the caller a second time.
#pragma once

#include <grpcpp/support/status.h>
#include <grpcpp/support/string_ref.h>

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth/credential_cache.h"
#include "auth/forwarded_identity.h"
#include "auth/policy.h"
#include "auth/principal.h"
#include "auth/replay_cache.h"
#include "auth/replay_ledger.h"
#include "tls/peer_identity.h"

namespace nodegate::auth {

using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

struct AuthorizerOptions {
  std::string audience;  // this node's id: what signatures must name
  std::string trust_domain = "nodegate.local";
  uint32_t enabled = kAllAuthenticators;
  bool mtls_require_registered = false;  // mtls vouches only for nodes present and enabled
  absl::Duration max_skew = absl::Seconds(60);
  size_t replay_cache_capacity = 100000;

  // Replays across a restart (replay_ledger.h): with a ledger, signatures dated at or before its
  // floor are refused, signed calls fail closed while its lease does not cover the clock, and a
  // call dated more than its margin ahead has its nonce written durably before it is accepted.
  // Null (library users without a store): the replay cache alone, which a restart empties.
  ReplayLedger* ledger = nullptr;  // must outlive the authorizer

  // Client identity forwarded by a TLS-terminating proxy (docs/deploy.md). Only a trusted proxy's
  // header is used: a peer whose certificate names a node in `trusted_proxies` or a registered,
  // enabled node with the role "proxy", or — when `trust_local` — any caller on the plaintext
  // loopback listener. From anyone else the header is ignored (and logged).
  struct Forwarded {
    bool enabled = false;
    std::string header = "x-forwarded-client-cert";
    std::vector<std::string> trusted_proxies;
    bool trust_local = false;
    ForwardedCertVerifier::TrustSource trust;  // the node's current CA (required when enabled)
  } forwarded;
};

// Why a call was refused; one counter each.
enum class Rejection {
  kNoCredential,
  kNotAccepted,
  kMalformed,
  kSignatureUnknownNode,
  kSignatureNodeDisabled,
  kSignatureSkew,
  kSignatureInvalid,
  kSignatureReplay,
  kReplayCacheFull,
  kTokenInvalid,
  kTokenExpired,
  kAppKeyInvalid,
  kMtlsUnregistered,
  kRoleMissing,
  kForwardedInvalid,
  kReplayLedgerUnavailable,  // the store behind restart-proof replay protection failed
  kCredentialsStale,         // the credential snapshot is older than auth.credential_max_age
  kCount,
};
std::string_view RejectionName(Rejection r);

struct Decision {
  grpc::Status status;  // OK, or the code and wire message (category only, never a secret)
  Principal principal;
  Rejection rejection = Rejection::kCount;  // kCount when allowed
  std::string detail;  // for the access log only: which rule, which node, expected vs actual
};

class Authorizer {
 public:
  // `cache` must outlive the authorizer.
  static absl::StatusOr<std::unique_ptr<Authorizer>> New(AuthorizerOptions options,
                                                         std::shared_ptr<const Policy> policy,
                                                         const CredentialCache* cache);

  // Allowed: OK status and the caller's Principal, counting only the authenticators the method's
  // rule accepts (unauthenticated, kind kNone, on a public method). Refused: the wire status, the
  // reason, and the detail for the access log. Spends a signature's nonce.
  // Fails closed on a stale credential snapshot (CredentialCache::CheckFresh): what the snapshot
  // would decide (signature, token, app key, a registered mtls node, its roles, a proxy trusted by
  // role) is refused with UNAVAILABLE; public methods and a certificate-only mtls identity on a
  // rule that needs no role still pass.
  Decision Authorize(std::string_view full_method, const Metadata& md,
                     const tls::PeerIdentity& peer, absl::Time now);

  // Authorize for a caller that must not block: the decision now, unless the call is allowed once
  // its signature's nonce is in a fleet's shared ledger (ReplayLedger::shared()). Then nullopt, and
  // `done` gets the decision exactly once, from the ledger's writer thread, after the nonce's batch
  // committed (allowed, a replay, or UNAVAILABLE). `done` must not block; the authorizer and its
  // ledger must outlive the pending calls.
  using DecisionDone = std::function<void(Decision)>;
  std::optional<Decision> AuthorizeOrDefer(std::string_view full_method, const Metadata& md,
                                           const tls::PeerIdentity& peer, absl::Time now,
                                           DecisionDone done);

  // When `token` expires (InfiniteFuture: never) per the current credential snapshot; nullopt when
  // the snapshot does not know it. For a caller that keeps a verified token beyond one call (the
  // console's login sessions bound their lifetime by it); never a decision by itself.
  std::optional<absl::Time> TokenExpiry(std::string_view token) const;

  // The policy a call that starts now is decided by. Lock-free in steady state (the credential
  // cache's pattern: a per-thread copy refreshed when the version moved).
  std::shared_ptr<const Policy> policy() const;
  // Puts `policy` (non-null) in force for calls that start after this returns; calls already being
  // decided finish under the policy they started with (SIGHUP reload).
  void SetPolicy(std::shared_ptr<const Policy> policy);
  const AuthorizerOptions& options() const { return options_; }
  uint64_t rejections(Rejection r) const { return rejections_[static_cast<int>(r)].load(); }
  uint64_t forwarded_ignored() const { return forwarded_ignored_.load(); }
  size_t replay_cache_size() const { return replay_->size(); }

 private:
  Authorizer(AuthorizerOptions options, std::shared_ptr<const Policy> policy,
             const CredentialCache* cache, std::unique_ptr<ReplayCache> replay)
      : options_(std::move(options)),
        cache_(cache),
        replay_(std::move(replay)),
        forwarded_verifier_(std::make_unique<ForwardedCertVerifier>(options_.forwarded.trust)) {
    SetPolicy(std::move(policy));
  }

  // The identity the mtls authenticator should look at: the peer's own certificate, or the one a
  // trusted proxy forwarded. A forwarded header that fails verification is an error.
  // `fresh`: CredentialCache::CheckFresh(); when it failed and only the snapshot could tell
  // whether the peer is a trusted proxy, that error.
  absl::StatusOr<tls::PeerIdentity> EffectivePeer(const Metadata& md, const tls::PeerIdentity& peer,
                                                  const CredentialSnapshot& snap,
                                                  const absl::Status& fresh, absl::Time now) const;
  absl::StatusOr<bool> IsTrustedProxy(const tls::PeerIdentity& peer, const CredentialSnapshot& snap,
                                      const absl::Status& fresh) const;
  // Serial of the peer's certificate (uppercase hex), cached by the PEM's digest so that a busy
  // connection parses its certificate once.
  std::string PeerSerial(const tls::PeerIdentity& peer) const;

  // Authorize; with `defer`, a nonce that goes to a shared ledger is left in *defer, unspent.
  Decision Decide(std::string_view full_method, const Metadata& md, const tls::PeerIdentity& peer,
                  absl::Time now, std::optional<store::NonceRecord>* defer);

  struct Outcome;  // one authenticator's verdict
  Outcome CheckSignature(std::string_view method, const Metadata& md,
                         const CredentialSnapshot& snap, absl::Time now,
                         std::optional<store::NonceRecord>* defer) const;
  // The verdict on a nonce the ledger was asked to record (`kept`: its answer).
  static Outcome SpendOutcome(const absl::Status& kept, std::string_view node_id);
  Outcome CheckToken(const Metadata& md, const CredentialSnapshot& snap, absl::Time now) const;
  Outcome CheckAppKey(const Metadata& md, const CredentialSnapshot& snap) const;
  Outcome CheckMtls(const tls::PeerIdentity& peer, const CredentialSnapshot& snap,
                    const absl::Status& fresh) const;
  Decision Reject(Rejection why, grpc::StatusCode code, const std::string& message,
                  std::string detail);

  const AuthorizerOptions options_;
  mutable std::mutex policy_mu_;
  std::shared_ptr<const Policy> policy_;  // guarded by policy_mu_
  // Unique across all authorizers in the process (see policy()).
  std::atomic<uint64_t> policy_version_{0};
  const CredentialCache* cache_;
  std::unique_ptr<ReplayCache> replay_;
  std::array<std::atomic<uint64_t>, static_cast<int>(Rejection::kCount)> rejections_{};
  mutable std::atomic<uint64_t> forwarded_ignored_{0};
  mutable absl::Mutex serial_mu_;
  mutable absl::flat_hash_map<std::string, std::string> serial_cache_ ABSL_GUARDED_BY(serial_mu_);
  std::unique_ptr<ForwardedCertVerifier> forwarded_verifier_;
};

}  // namespace nodegate::auth
