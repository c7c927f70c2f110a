#include "auth/authorizer.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/signature_v1.h"
#include "crypto/constant_time.h"
#include "crypto/digest.h"
#include "pki/certificate_info.h"
#include "spdlog/spdlog.h"

namespace nodegate::auth {
namespace {

constexpr size_t kMaxSecretChars = 1024;

// The first value of `key`, or nullopt.
std::optional<std::string_view> Find(const Metadata& md, std::string_view key) {
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

bool HasSignatureHeaders(const Metadata& md) {
  return Find(md, sigv1::kNodeIdHeader) || Find(md, sigv1::kTimestampHeader) ||
         Find(md, sigv1::kNonceHeader) || Find(md, sigv1::kSignatureHeader);
}

bool HasToken(const Metadata& md) { return Find(md, "authorization") || Find(md, "access-token"); }

bool HasAppKey(const Metadata& md) {
  return Find(md, "app-key") || Find(md, "app_key") || Find(md, "app-secret") ||
         Find(md, "app_secret");
}

}  // namespace

std::string_view RejectionName(Rejection r) {
  switch (r) {
    case Rejection::kNoCredential:
      return "no_credential";
    case Rejection::kNotAccepted:
      return "credential_not_accepted";
    case Rejection::kMalformed:
      return "malformed";
    case Rejection::kSignatureUnknownNode:
      return "signature_unknown_node";
    case Rejection::kSignatureNodeDisabled:
      return "signature_node_disabled";
    case Rejection::kSignatureSkew:
      return "signature_skew";
    case Rejection::kSignatureInvalid:
      return "signature_invalid";
    case Rejection::kSignatureReplay:
      return "signature_replay";
    case Rejection::kReplayCacheFull:
      return "replay_cache_full";
    case Rejection::kReplayLedgerUnavailable:
      return "replay_ledger_unavailable";
    case Rejection::kTokenInvalid:
      return "token_invalid";
    case Rejection::kTokenExpired:
      return "token_expired";
    case Rejection::kAppKeyInvalid:
      return "app_key_invalid";
    case Rejection::kMtlsUnregistered:
      return "mtls_unregistered";
    case Rejection::kRoleMissing:
      return "role_missing";
    case Rejection::kForwardedInvalid:
      return "forwarded_cert_invalid";
    case Rejection::kCredentialsStale:
      return "credentials_stale";
    case Rejection::kCount:
      break;
  }
  return "allowed";
}

static std::string NodeIdOf(const tls::PeerIdentity& peer, std::string_view trust_domain);

struct Authorizer::Outcome {
  enum class State { kAbsent, kOk, kFailed } state = State::kAbsent;
  Principal principal;
  Rejection rejection = Rejection::kCount;
  grpc::StatusCode code = grpc::StatusCode::UNAUTHENTICATED;
  std::string message;
  std::string detail;

  static Outcome Ok(Principal p) {
    Outcome o;
    o.state = State::kOk;
    o.principal = std::move(p);
    return o;
  }
  static Outcome Fail(Rejection why, std::string message, std::string detail = "",
                      grpc::StatusCode code = grpc::StatusCode::UNAUTHENTICATED) {
    Outcome o;
    o.state = State::kFailed;
    o.rejection = why;
    o.code = code;
    o.message = std::move(message);
    o.detail = std::move(detail);
    return o;
  }
};

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::New(AuthorizerOptions options,
                                                            std::shared_ptr<const Policy> policy,
                                                            const CredentialCache* cache) {
  if (!sigv1::IsValidNodeId(options.audience)) {
    return absl::InvalidArgumentError(
        absl::StrCat("node.id: '", options.audience, "' is not [A-Za-z0-9._-]{1,128}"));
  }
  if (options.max_skew <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("auth.signature.max_skew: must be positive");
  }
  if (policy == nullptr || cache == nullptr) {
    return absl::InvalidArgumentError("authorizer: policy and credential cache are required");
  }
  absl::StatusOr<std::unique_ptr<ReplayCache>> replay =
      ReplayCache::New(options.replay_cache_capacity);
  if (!replay.ok()) return replay.status();
  // Nonces recorded by an earlier run: refused again as replays until they expire. A fleet's
  // shared ledger is asked on every call instead (it may hold millions of live nonces).
  if (options.ledger != nullptr && !options.ledger->shared()) {
    const absl::Time now = absl::Now();
    absl::StatusOr<std::vector<store::NonceRecord>> live = options.ledger->nonces().Live(now);
    if (!live.ok()) {
      return absl::Status(
          live.status().code(),
          absl::StrCat("auth: cannot load recorded signature nonces: ", live.status().message()));
    }
    for (const store::NonceRecord& r : *live) {
      (*replay)
          ->CheckAndInsert(r.node_id, r.nonce, r.expires_at, now)
          .IgnoreError();  // a full cache only makes the (bounded) table the larger record
    }
  }
  return std::unique_ptr<Authorizer>(
      new Authorizer(std::move(options), std::move(policy), cache, *std::move(replay)));
}

Authorizer::Outcome Authorizer::CheckSignature(std::string_view method, const Metadata& md,
                                               const CredentialSnapshot& snap, absl::Time now,
                                               std::optional<store::NonceRecord>* defer) const {
  auto id = Find(md, sigv1::kNodeIdHeader);
  auto ts = Find(md, sigv1::kTimestampHeader);
  auto nonce = Find(md, sigv1::kNonceHeader);
  auto sig = Find(md, sigv1::kSignatureHeader);
  for (auto [value, name] : {std::pair{id, sigv1::kNodeIdHeader},
                             {ts, sigv1::kTimestampHeader},
                             {nonce, sigv1::kNonceHeader},
                             {sig, sigv1::kSignatureHeader}}) {
    if (!value) {
      return Outcome::Fail(Rejection::kMalformed,
                           absl::StrCat("signature: missing ", std::string(name)));
    }
  }
  absl::StatusOr<sigv1::SignedHeaders> h = sigv1::ParseSignedHeaders(*id, *ts, *nonce, *sig);
  if (!h.ok()) {
    return Outcome::Fail(Rejection::kMalformed, std::string(h.status().message()));
  }
  const std::string node_id(h->node_id);
  auto it = snap.nodes.find(node_id);
  if (it == snap.nodes.end()) {
    return Outcome::Fail(Rejection::kSignatureUnknownNode, "signature: unknown node",
                         absl::StrCat("node ", node_id, " is not registered"));
  }
  const NodeCredential& node = it->second;
  if (!node.enabled) {
    return Outcome::Fail(Rejection::kSignatureNodeDisabled, "signature: node disabled",
                         absl::StrCat("node ", node_id, " is disabled"));
  }
  Principal p{Principal::Kind::kNode, node_id, node.roles, kSignature};
  const int64_t now_ms = absl::ToUnixMillis(now);
  const int64_t skew_ms = absl::ToInt64Milliseconds(options_.max_skew);
  if (h->timestamp_ms < now_ms - skew_ms || h->timestamp_ms > now_ms + skew_ms) {
    return Outcome::Fail(Rejection::kSignatureSkew,
                         "signature: timestamp outside the allowed window",
                         absl::StrCat("node ", node_id, " timestamp ", h->timestamp_ms,
                                      " vs server ", now_ms, " (max skew ", skew_ms, " ms)"));
  }
  ReplayLedger* ledger = options_.ledger;
  if (ledger != nullptr && ledger->floor() != absl::InfinitePast() &&
      h->timestamp_ms <= absl::ToUnixMillis(ledger->floor())) {
    return Outcome::Fail(
        Rejection::kSignatureSkew, "signature: timestamp before this node restarted, sign again",
        absl::StrCat("node ", node_id, " timestamp ", h->timestamp_ms,
                     " not after the restart floor ", absl::ToUnixMillis(ledger->floor())));
  }
  if (ledger != nullptr && !ledger->Covers(now)) {
    return Outcome::Fail(Rejection::kReplayLedgerUnavailable,
                         "signature: replay protection unavailable, retry later",
                         "signature lease not renewed (store)", grpc::StatusCode::UNAVAILABLE);
  }
  if (node.verifier == nullptr) {
    return Outcome::Fail(Rejection::kSignatureInvalid, "signature: node has no usable key",
                         absl::StrCat("node ", node_id, " key failed to load"));
  }
  const std::string data =
      sigv1::StringToSign(method, options_.audience, h->node_id, h->timestamp, h->nonce);
  absl::Status v = node.verifier->Verify(h->signature, data);
  if (!v.ok() && node.previous_verifier != nullptr && now < node.previous_valid_until) {
    v = node.previous_verifier->Verify(h->signature, data);
    p.signed_with_previous_key = v.ok();
  }
  if (!v.ok()) {
    return Outcome::Fail(
        Rejection::kSignatureInvalid, "signature: does not verify",
        absl::StrCat("node ", node_id, " method ", std::string(method), " audience ",
                     options_.audience, ": ", std::string(v.message())));
  }
  // Only a verified call may take a replay-cache slot: junk cannot fill it. The window above
  // still accepts the timestamp at exactly ts + max_skew, and the cache forgets an entry once
  // expiry <= now: remember the nonce until one millisecond past the window, or a replay at its
  // last millisecond would pass.
  // Each registered node's fair share is held for it however full others make the cache: one
  // busy (or compromised) node cannot lock the rest out. A lone node has no one to share with.
  const size_t nodes = snap.nodes.size();
  const size_t share = nodes < 2 ? 0 : std::max<size_t>(1, replay_->capacity() / nodes);
  absl::Status fresh = replay_->CheckAndInsert(
      h->node_id, h->nonce, absl::FromUnixMillis(h->timestamp_ms + skew_ms + 1), now, share);
  if (absl::IsAlreadyExists(fresh)) {
    return Outcome::Fail(Rejection::kSignatureReplay, "signature: nonce already used (replay)",
                         absl::StrCat("node ", node_id, " replayed nonce"));
  }
  if (!fresh.ok()) {
    return Outcome::Fail(Rejection::kReplayCacheFull, "signature: replay cache full, retry later",
                         "replay cache at capacity", grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  // The durable record, written before the call is let in; if it cannot be written the call
  // fails closed. A fleet records every nonce in its shared ledger: the replay cache above only
  // knows this replica's calls. A single node records only a call dated ahead of its clock by
  // more than the margin, which would still be in the window after a restart (a synced client's
  // timestamp is behind ours by the network delay).
  if (ledger != nullptr &&
      (ledger->shared() ||
       h->timestamp_ms > now_ms + absl::ToInt64Milliseconds(ledger->margin()))) {
    // 16 bytes of SHA-256 name the signature that spent the nonce: a record for an operator,
    // never an input to a decision.
    store::NonceRecord record{std::string(h->node_id), std::string(h->nonce),
                              crypto::Sha256(h->signature).substr(0, 16),
                              absl::FromUnixMillis(h->timestamp_ms + skew_ms + 1)};
    if (defer != nullptr && ledger->shared()) {
      *defer = std::move(record);  // AuthorizeOrDefer spends it once the whole decision is known
    } else {
      Outcome spent = SpendOutcome(ledger->Spend(std::move(record), now), node_id);
      if (spent.state == Outcome::State::kFailed) return spent;
    }
  }
  return Outcome::Ok(std::move(p));
}

Authorizer::Outcome Authorizer::SpendOutcome(const absl::Status& kept, std::string_view node_id) {
  if (absl::IsAlreadyExists(kept)) {
    return Outcome::Fail(Rejection::kSignatureReplay, "signature: nonce already used (replay)",
                         absl::StrCat("node ", absl::string_view(node_id.data(), node_id.size()),
                                      " replayed a recorded nonce"));
  }
  if (!kept.ok()) {
    return Outcome::Fail(
        Rejection::kReplayLedgerUnavailable, "signature: cannot record the nonce, retry later",
        absl::StrCat("nonce store: ", kept.message()), grpc::StatusCode::UNAVAILABLE);
  }
  return Outcome::Ok(Principal{});
}

Authorizer::Outcome Authorizer::CheckToken(const Metadata& md, const CredentialSnapshot& snap,
                                           absl::Time now) const {
  std::optional<std::string_view> token;
  if (auto auth = Find(md, "authorization")) {
    // RFC 6750: the scheme is case-insensitive.
    if (auth->size() < 7 ||
        !absl::EqualsIgnoreCase(absl::string_view(auth->data(), 7), "bearer ")) {
      return Outcome::Fail(Rejection::kMalformed, "token: authorization is not a Bearer token");
    }
    token = auth->substr(7);
  }
  if (auto alt = Find(md, "access-token")) {
    if (token && !crypto::ConstantTimeEquals(*token, *alt)) {
      return Outcome::Fail(Rejection::kMalformed, "token: authorization and access-token disagree");
    }
    token = alt;
  }
  if (!token || token->empty()) return Outcome::Fail(Rejection::kMalformed, "token: empty");
  if (token->size() > kMaxSecretChars) {
    return Outcome::Fail(Rejection::kMalformed, "token: too long");
  }
  // Looked up by its SHA-256: the table lookup's timing can at most reveal bits of a hash, never
  // of the token; the final equality is constant-time all the same.
  const std::string hash = crypto::Sha256(*token);
  auto it = snap.tokens.find(hash);
  if (it == snap.tokens.end() || !crypto::ConstantTimeEquals(it->second.hash, hash)) {
    return Outcome::Fail(Rejection::kTokenInvalid, "token: unknown or revoked");
  }
  const TokenCredential& t = it->second;
  if (now >= t.expires_at) {
    return Outcome::Fail(Rejection::kTokenExpired, "token: expired",
                         absl::StrCat("token of ", t.principal, " expired"));
  }
  return Outcome::Ok(Principal{t.kind, t.principal, t.roles, kToken});
}

std::optional<absl::Time> Authorizer::TokenExpiry(std::string_view token) const {
  std::shared_ptr<const CredentialSnapshot> snap = cache_->snapshot();
  auto it = snap->tokens.find(crypto::Sha256(token));
  if (it == snap->tokens.end()) return std::nullopt;
  return it->second.expires_at;
}

Authorizer::Outcome Authorizer::CheckAppKey(const Metadata& md,
                                            const CredentialSnapshot& snap) const {
  auto key = Find(md, "app-key");
  if (!key) key = Find(md, "app_key");
  auto secret = Find(md, "app-secret");
  if (!secret) secret = Find(md, "app_secret");
  if (!key) return Outcome::Fail(Rejection::kMalformed, "app_key: app-key missing");
  if (!secret) return Outcome::Fail(Rejection::kMalformed, "app_key: app-secret missing");
  if (key->size() > 128 || secret->size() > kMaxSecretChars) {
    return Outcome::Fail(Rejection::kMalformed, "app_key: value too long");
  }
  const std::string hash = crypto::Sha256(*secret);
  auto it = snap.apps.find(std::string(*key));
  // One message for unknown key, wrong secret and disabled key: no key enumeration.
  if (it == snap.apps.end()) {
    // An unknown "key id" may be anything the caller put there — with app-key and app-secret
    // swapped, it is the secret. Log only a short digest: enough to match repeated attempts, not
    // enough to recover or replay the value.
    return Outcome::Fail(
        Rejection::kAppKeyInvalid, "app_key: unknown key or wrong secret",
        absl::StrCat("app key sha256:", crypto::Sha256Hex(*key).substr(0, 12), " unknown"));
  }
  if (!crypto::ConstantTimeEquals(it->second.secret_hash, hash) || !it->second.enabled) {
    // A registered key id is an identifier, not a secret.
    return Outcome::Fail(
        Rejection::kAppKeyInvalid, "app_key: unknown key or wrong secret",
        absl::StrCat("app key ", it->first, !it->second.enabled ? " disabled" : " wrong secret"));
  }
  return Outcome::Ok(
      Principal{Principal::Kind::kApp, it->second.principal, it->second.roles, kAppKey});
}

Authorizer::Outcome Authorizer::CheckMtls(const tls::PeerIdentity& peer,
                                          const CredentialSnapshot& snap,
                                          const absl::Status& fresh) const {
  std::string id = NodeIdOf(peer, options_.trust_domain);
  if (id.empty()) {
    return Outcome::Fail(Rejection::kMtlsUnregistered, "mtls: certificate names no node");
  }
  if (!fresh.ok()) {
    // The certificate alone still names the node; whether it is registered, enabled, on its
    // current certificate, and which roles it has, only a current snapshot can say.
    if (options_.mtls_require_registered) {
      return Outcome::Fail(Rejection::kCredentialsStale, std::string(fresh.message()),
                           absl::StrCat("certificate node ", id, ": registration unknown"),
                           grpc::StatusCode::UNAVAILABLE);
    }
    return Outcome::Ok(Principal{Principal::Kind::kNode, std::move(id), {}, kMtls});
  }
  auto it = snap.nodes.find(id);
  if (options_.mtls_require_registered && (it == snap.nodes.end() || !it->second.enabled)) {
    return Outcome::Fail(Rejection::kMtlsUnregistered, "mtls: node not registered or disabled",
                         absl::StrCat("certificate node ", id));
  }
  // A registry-enrolled node is known by the certificate the registry issued it last: an older
  // certificate for the same id (a removed and re-enrolled node, a renewed one) does not count.
  if (options_.mtls_require_registered && !it->second.cert_serial.empty() &&
      PeerSerial(peer) != it->second.cert_serial) {
    return Outcome::Fail(Rejection::kMtlsUnregistered, "mtls: not the node's current certificate",
                         absl::StrCat("certificate node ", id, " serial ", PeerSerial(peer),
                                      " != registered ", it->second.cert_serial));
  }
  std::vector<std::string> roles;
  if (it != snap.nodes.end() && it->second.enabled) roles = it->second.roles;
  return Outcome::Ok(Principal{Principal::Kind::kNode, std::move(id), std::move(roles), kMtls});
}

static std::string NodeIdOf(const tls::PeerIdentity& peer, std::string_view trust_domain) {
  const std::string prefix = absl::StrCat("spiffe://", std::string(trust_domain), "/node/");
  if (absl::StartsWith(peer.spiffe_id, prefix) && peer.spiffe_id.size() > prefix.size()) {
    return peer.spiffe_id.substr(prefix.size());
  }
  return peer.common_name;
}

std::string Authorizer::PeerSerial(const tls::PeerIdentity& peer) const {
  if (!peer.serial_hex.empty() || peer.pem_cert.empty()) return peer.serial_hex;
  const std::string key = crypto::Sha256(peer.pem_cert);
  {
    absl::MutexLock lock(&serial_mu_);
    if (auto it = serial_cache_.find(key); it != serial_cache_.end()) return it->second;
  }
  absl::StatusOr<pki::CertificateInfo> info = pki::InspectCertificatePem(peer.pem_cert, "peer");
  std::string serial = info.ok() ? info->serial_hex : "";
  absl::MutexLock lock(&serial_mu_);
  if (serial_cache_.size() >= 4096) serial_cache_.clear();
  serial_cache_[key] = serial;
  return serial;
}

absl::StatusOr<bool> Authorizer::IsTrustedProxy(const tls::PeerIdentity& peer,
                                                const CredentialSnapshot& snap,
                                                const absl::Status& fresh) const {
  const auto& f = options_.forwarded;
  if (peer.transport == "local") return f.trust_local;
  if (!peer.authenticated) return false;
  const std::string id = NodeIdOf(peer, options_.trust_domain);
  for (const std::string& p : f.trusted_proxies) {
    if (p == id) return true;
  }
  if (!fresh.ok()) return fresh;  // trusted by role: only a current snapshot knows the roles
  auto it = snap.nodes.find(id);
  if (it == snap.nodes.end() || !it->second.enabled) return false;
  for (const std::string& role : it->second.roles) {
    if (role == "proxy") return true;
  }
  return false;
}

absl::StatusOr<tls::PeerIdentity> Authorizer::EffectivePeer(const Metadata& md,
                                                            const tls::PeerIdentity& peer,
                                                            const CredentialSnapshot& snap,
                                                            const absl::Status& fresh,
                                                            absl::Time now) const {
  const auto& f = options_.forwarded;
  std::optional<std::string_view> header = Find(md, f.header);
  if (!header) return peer;
  absl::StatusOr<bool> trusted = f.enabled ? IsTrustedProxy(peer, snap, fresh) : false;
  if (!trusted.ok()) return trusted.status();
  if (!*trusted) {
    // Log the first occurrences and then every power of two: visible, but no log flood. The CN is
    // escaped: a certificate's subject may hold any byte, and a newline would forge a log line.
    uint64_t n = forwarded_ignored_.fetch_add(1, std::memory_order_relaxed) + 1;
    if ((n & (n - 1)) == 0) {
      spdlog::warn(
          "ignored {} from a peer that is not a trusted proxy (cn '{}', transport {}; "
          "{} so far)",
          f.header, absl::CHexEscape(peer.common_name), peer.transport, n);
    }
    return peer;
  }
  return forwarded_verifier_->Verify(*header, now);
}

Decision Authorizer::Reject(Rejection why, grpc::StatusCode code, const std::string& message,
                            std::string detail) {
  rejections_[static_cast<int>(why)].fetch_add(1, std::memory_order_relaxed);
  Decision d;
  d.status = grpc::Status(code, message);  // grpc::Status copies: it takes a const&
  d.rejection = why;
  d.detail = std::move(detail);
  return d;
}

Decision Authorizer::Authorize(std::string_view full_method, const Metadata& md,
                               const tls::PeerIdentity& peer, absl::Time now) {
  return Decide(full_method, md, peer, now, nullptr);
}

std::optional<Decision> Authorizer::AuthorizeOrDefer(std::string_view full_method,
                                                     const Metadata& md,
                                                     const tls::PeerIdentity& peer, absl::Time now,
                                                     DecisionDone done) {
  std::optional<store::NonceRecord> nonce;
  Decision d = Decide(full_method, md, peer, now, &nonce);
  // A call refused on other grounds spends nothing: it was not accepted, and this replica's
  // replay cache already holds its nonce.
  if (!d.status.ok() || !nonce.has_value()) return d;
  std::string node_id = nonce->node_id;
  options_.ledger->SpendAsync(*std::move(nonce), now,
                              [this, allowed = std::move(d), node_id = std::move(node_id),
                               done = std::move(done)](const absl::Status& kept) mutable {
                                Outcome o = SpendOutcome(kept, node_id);
                                if (o.state != Outcome::State::kFailed)
                                  return done(std::move(allowed));
                                done(Reject(o.rejection, o.code, o.message, std::move(o.detail)));
                              });
  return std::nullopt;
}

namespace {
std::atomic<uint64_t> next_policy_version{0};
}  // namespace

std::shared_ptr<const Policy> Authorizer::policy() const {
  struct ThreadCopy {
    uint64_t version = 0;
    std::shared_ptr<const Policy> policy;
  };
  thread_local ThreadCopy copy;
  const uint64_t current = policy_version_.load(std::memory_order_acquire);
  if (copy.version != current || copy.policy == nullptr) {
    std::lock_guard<std::mutex> lock(policy_mu_);
    copy.policy = policy_;
    copy.version = policy_version_.load(std::memory_order_relaxed);
  }
  return copy.policy;
}

void Authorizer::SetPolicy(std::shared_ptr<const Policy> policy) {
  std::lock_guard<std::mutex> lock(policy_mu_);
  policy_ = std::move(policy);
  // Process-unique, so a thread's copy from another (or an earlier) authorizer never matches.
  policy_version_.store(next_policy_version.fetch_add(1, std::memory_order_relaxed) + 1,
                        std::memory_order_release);
}

Decision Authorizer::Decide(std::string_view full_method, const Metadata& md,
                            const tls::PeerIdentity& peer, absl::Time now,
                            std::optional<store::NonceRecord>* defer) {
  const std::shared_ptr<const Policy> policy = this->policy();
  const Rule& rule = policy->Resolve(full_method);
  if (rule.is_public) return Decision{};
  const uint32_t accepted =
      (rule.authenticators == 0 ? kAllAuthenticators : rule.authenticators) & options_.enabled;
  std::shared_ptr<const CredentialSnapshot> snap = cache_->snapshot();
  // One steady-clock read per call. Past the bound, nothing the snapshot decides is accepted.
  const absl::Status fresh = cache_->CheckFresh();
  auto stale = [&]() {
    return Reject(Rejection::kCredentialsStale, grpc::StatusCode::UNAVAILABLE,
                  std::string(fresh.message()),
                  absl::StrCat("snapshot age ", absl::FormatDuration(cache_->age()), " > ",
                               absl::FormatDuration(cache_->max_age())));
  };

  Principal principal;
  uint32_t presented = 0;  // credentials present but not accepted here
  auto take = [&](Outcome&& o) -> std::optional<Decision> {
    if (o.state == Outcome::State::kFailed) {
      return Reject(o.rejection, o.code, o.message, std::move(o.detail));
    }
    if (o.state == Outcome::State::kOk) {
      if (!principal.authenticated()) {
        principal = std::move(o.principal);
      } else {
        principal.authenticators |= o.principal.authenticators;
      }
    }
    return std::nullopt;
  };
  // Per-call credentials first: a present-but-invalid one fails the call (fail closed), and the
  // most specific identity (signature, then token, then app key) becomes the principal.
  if (HasSignatureHeaders(md)) {
    if (accepted & kSignature) {
      if (!fresh.ok()) return stale();
      if (auto d = take(CheckSignature(full_method, md, *snap, now, defer))) return *d;
    } else {
      presented |= kSignature;
    }
  }
  if (HasToken(md)) {
    if (accepted & kToken) {
      if (!fresh.ok()) return stale();
      if (auto d = take(CheckToken(md, *snap, now))) return *d;
    } else {
      presented |= kToken;
    }
  }
  if (HasAppKey(md)) {
    if (accepted & kAppKey) {
      if (!fresh.ok()) return stale();
      if (auto d = take(CheckAppKey(md, *snap))) return *d;
    } else {
      presented |= kAppKey;
    }
  }
  absl::StatusOr<tls::PeerIdentity> effective = EffectivePeer(md, peer, *snap, fresh, now);
  if (!fresh.ok() && !effective.ok() && effective.status() == fresh) return stale();
  if (!effective.ok()) {
    return Reject(Rejection::kForwardedInvalid, grpc::StatusCode::UNAUTHENTICATED,
                  std::string(effective.status().message()), "from a trusted proxy");
  }
  if (effective->authenticated) {
    if (accepted & kMtls) {
      Outcome o = CheckMtls(*effective, *snap, fresh);
      // A transport certificate is always there under client_auth = "require"; it fails the call
      // only when it is the sole credential.
      bool ignore = o.state == Outcome::State::kFailed && principal.authenticated();
      if (!ignore) {
        if (auto d = take(std::move(o))) return *d;
      }
    } else {
      presented |= kMtls;
    }
  }
  if (!principal.authenticated()) {
    std::string accepts = AuthenticatorNames(accepted);
    if (presented != 0) {
      return Reject(Rejection::kNotAccepted, grpc::StatusCode::UNAUTHENTICATED,
                    absl::StrCat("credential not accepted for this method (accepts: ",
                                 accepts.empty() ? "none enabled" : accepts, ")"),
                    absl::StrCat("rule ", rule.pattern, " from ", rule.source, "; presented ",
                                 AuthenticatorNames(presented)));
    }
    return Reject(Rejection::kNoCredential, grpc::StatusCode::UNAUTHENTICATED,
                  absl::StrCat("no credential (this method accepts: ",
                               accepts.empty() ? "none enabled" : accepts, ")"),
                  absl::StrCat("rule ", rule.pattern, " from ", rule.source));
  }
  if (!rule.roles.empty() && !principal.HasAnyRole(rule.roles)) {
    // Under a stale snapshot the only principal is a certificate-only mtls one, whose roles are
    // unknown rather than absent.
    if (!fresh.ok()) return stale();
    Decision d = Reject(
        Rejection::kRoleMissing, grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("permission denied: needs one of the roles ", absl::StrJoin(rule.roles, ", ")),
        absl::StrCat(principal.ToString(), " has roles [", absl::StrJoin(principal.roles, ","),
                     "]; rule ", rule.pattern, " from ", rule.source));
    d.principal = std::move(principal);
    return d;
  }
  Decision d;
  d.principal = std::move(principal);
  return d;
}

}  // namespace nodegate::auth
