#include "testlib/auth.h"

#include "absl/strings/str_cat.h"
#include "api/dice.pb.h"
#include "auth/signature_v1.h"
#include "crypto/digest.h"
#include "crypto/encoding.h"
#include "crypto/random.h"
#include "nodegate/v1/kv.pb.h"
#include "nodegate/v1/registry.pb.h"
#include "testlib/keys.h"
#include "testlib/status.h"

namespace nodegate::testlib {

auth::NodeCredential Node(std::string id, crypto::Algorithm alg, std::vector<std::string> roles,
                          int key_index) {
  auth::NodeCredential n;
  n.id = std::move(id);
  n.roles = std::move(roles);
  n.verifier = VerifierFor(alg, key_index);
  return n;
}

auth::TokenCredential Token(std::string_view token, std::string principal,
                            std::vector<std::string> roles, absl::Time expires_at) {
  return auth::TokenCredential{crypto::Sha256(token), auth::Principal::Kind::kUser,
                               std::move(principal), std::move(roles), expires_at};
}

auth::AppCredential App(std::string_view secret, std::string principal,
                        std::vector<std::string> roles, bool enabled) {
  return auth::AppCredential{crypto::Sha256(secret), std::move(principal), std::move(roles),
                             enabled};
}

auth::Principal MakePrincipal(auth::Principal::Kind kind, std::string id,
                              std::vector<std::string> roles, uint32_t authenticators) {
  auth::Principal p;
  p.kind = kind;
  p.id = std::move(id);
  p.roles = std::move(roles);
  p.authenticators = authenticators;
  return p;
}

absl::StatusOr<uint64_t> MemorySource::Generation() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_generation_.ok()) return fail_generation_;
  return generation_;
}

absl::StatusOr<auth::CredentialSnapshot> MemorySource::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  ++loads_;
  if (!fail_.ok()) return fail_;
  return snapshot_;
}

void MemorySource::Set(auth::CredentialSnapshot snapshot) {
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(snapshot);
  ++generation_;
}

void MemorySource::FailLoads(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_ = std::move(status);
  ++generation_;
}

void MemorySource::FailGenerations(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_generation_ = std::move(status);
}

int MemorySource::loads() {
  std::lock_guard<std::mutex> lock(mu_);
  return loads_;
}

std::shared_ptr<MemorySource> TokenSource() {
  auth::CredentialSnapshot s;
  for (const auth::TokenCredential& t :
       {Token(kAdminToken, "alice", {"admin"}), Token(kUserToken, "bob", {})}) {
    s.tokens[t.hash] = t;
  }
  auto source = std::make_shared<MemorySource>();
  source->Set(std::move(s));
  return source;
}

Md& Md::Add(std::string key, std::string value) {
  headers_.emplace_back(std::move(key), std::move(value));
  return *this;
}

Md& Md::Set(const std::string& key, std::string value) {
  Remove(key);
  return Add(key, std::move(value));
}

Md& Md::Remove(const std::string& key) {
  std::deque<std::pair<std::string, std::string>> kept;
  for (auto& h : headers_) {
    if (h.first != key) kept.push_back(std::move(h));
  }
  headers_ = std::move(kept);
  return *this;
}

auth::Metadata Md::view() const {
  auth::Metadata md;
  for (const auto& [k, v] : headers_) md.emplace(grpc::string_ref(k), grpc::string_ref(v));
  return md;
}

Md SignedCall::ToMd() const {
  Md md;
  md.Add(std::string(auth::sigv1::kNodeIdHeader), node_id)
      .Add(std::string(auth::sigv1::kTimestampHeader), timestamp)
      .Add(std::string(auth::sigv1::kNonceHeader), nonce)
      .Add(std::string(auth::sigv1::kSignatureHeader), signature);
  return md;
}

SignedCall SignCall(const crypto::Signer& signer, std::string node_id, absl::Time timestamp,
                    std::string_view method, std::string_view audience, size_t nonce_bytes) {
  SignedCall c;
  c.node_id = std::move(node_id);
  c.timestamp = absl::StrCat(absl::ToUnixMillis(timestamp));
  c.nonce = crypto::Base64UrlEncode(Unwrap(crypto::RandomBytes(nonce_bytes)));
  const std::string data =
      auth::sigv1::StringToSign(method, audience, c.node_id, c.timestamp, c.nonce);
  c.signature = crypto::Base64UrlEncode(Unwrap(signer.Sign(data)));
  return c;
}

tls::PeerIdentity NoPeer() { return tls::PeerIdentity{}; }

tls::PeerIdentity CertPeer(std::string common_name, std::string spiffe_id) {
  tls::PeerIdentity p;
  p.authenticated = true;
  p.common_name = std::move(common_name);
  p.spiffe_id = std::move(spiffe_id);
  p.transport = "ssl";
  return p;
}

auth::Rule MakeRule(std::string pattern, uint32_t authenticators, std::vector<std::string> roles) {
  auth::Rule r;
  r.pattern = std::move(pattern);
  r.authenticators = authenticators;
  r.roles = std::move(roles);
  return r;
}

auth::Rule PublicRule(std::string pattern) {
  auth::Rule r;
  r.pattern = std::move(pattern);
  r.is_public = true;
  return r;
}

Harness::Harness(auth::CredentialSnapshot snapshot, std::vector<auth::Rule> config_rules,
                 auth::AuthorizerOptions options) {
  source_ = std::make_shared<MemorySource>();
  source_->Set(std::move(snapshot));
  cache_ = Unwrap(auth::CredentialCache::Start(source_, absl::ZeroDuration()));
  auto policy = Unwrap(auth::Policy::Build(std::move(config_rules), {}));
  authorizer_ = Unwrap(auth::Authorizer::New(std::move(options), std::move(policy), cache_.get()));
}

auth::AuthorizerOptions Harness::DefaultOptions() {
  auth::AuthorizerOptions o;
  o.audience = kAudience;
  return o;
}

auth::Decision Harness::Authorize(const Md& md, const tls::PeerIdentity& peer, absl::Time now,
                                  std::string_view method) {
  return authorizer_->Authorize(method, md.view(), peer, now);
}

ServicePolicyAuth ServicePolicyAuth::Make(std::vector<auth::Rule> config_rules,
                                          std::shared_ptr<auth::CredentialSource> source) {
  if (source == nullptr) source = TokenSource();
  // Link the generated descriptors in: the policy reads (nodegate.v1.auth) from the pool.
  api::RollDieRequest::descriptor();
  nodegate::v1::ListNodesRequest::descriptor();
  nodegate::v1::KeysRequest::descriptor();
  ServicePolicyAuth f;
  f.cache = Unwrap(auth::CredentialCache::Start(std::move(source), absl::ZeroDuration()));
  auto proto = Unwrap(auth::RulesFromProtoOptions(
      {"api.DiceService", "nodegate.v1.Identity", "nodegate.v1.NodeRegistry",
       "nodegate.v1.KeyValue", "grpc.health.v1.Health"}));
  auto policy = Unwrap(auth::Policy::Build(std::move(config_rules), std::move(proto)));
  auth::AuthorizerOptions o;
  o.audience = "test-node";
  f.authorizer = Unwrap(auth::Authorizer::New(o, std::move(policy), f.cache.get()));
  return f;
}

}  // namespace nodegate::testlib
