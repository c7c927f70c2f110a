// Helpers shared by the auth unit tests: real keys, a real in-memory CredentialSource, call
// metadata with stable backing storage, and calls signed per wire format v1 (design §3).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "auth/signature_v1.h"
#include "crypto/algorithm.h"
#include "crypto/digest.h"
#include "crypto/encoding.h"
#include "crypto/key.h"
#include "crypto/random.h"
#include "crypto/signer_factory.h"
#include "tls/peer_identity.h"

namespace nodegate::auth::testing {

inline constexpr char kAudience[] = "node-server";
inline constexpr char kMethod[] = "/api.DiceService/RollDie";
// A fixed "now" keeps every timestamp in the tests reproducible.
inline const absl::Time kNow = absl::FromUnixMillis(1'767'225'600'000);

template <typename T>
T Unwrap(absl::StatusOr<T> v) {
  EXPECT_TRUE(v.ok()) << v.status();
  if (!v.ok()) std::abort();  // a broken fixture makes every following line meaningless
  return *std::move(v);
}

// Key pairs are generated once per (algorithm, index) and shared by all tests of the binary:
// generation is the slow part, and tests only need distinct keys, not fresh ones.
inline const crypto::KeyPair& Keys(crypto::Algorithm alg, int index = 0) {
  static std::mutex mu;
  static std::map<std::pair<crypto::Algorithm, int>, crypto::KeyPair> keys;
  std::lock_guard<std::mutex> lock(mu);
  auto it = keys.find({alg, index});
  if (it == keys.end())
    it = keys.emplace(std::pair{alg, index}, Unwrap(crypto::GenerateKeyPair(alg))).first;
  return it->second;
}

inline std::shared_ptr<const crypto::Signer> SignerFor(crypto::Algorithm alg, int index = 0) {
  return Unwrap(crypto::NewSigner(alg, Keys(alg, index).private_key_pem));
}

inline std::shared_ptr<const crypto::Verifier> VerifierFor(crypto::Algorithm alg, int index = 0) {
  return Unwrap(crypto::NewVerifier(alg, Keys(alg, index).public_key_pem));
}

inline NodeCredential Node(std::string id, crypto::Algorithm alg,
                           std::vector<std::string> roles = {}, int key_index = 0) {
  NodeCredential n;
  n.id = std::move(id);
  n.roles = std::move(roles);
  n.verifier = VerifierFor(alg, key_index);
  return n;
}

inline TokenCredential Token(std::string_view token, std::string principal,
                             std::vector<std::string> roles = {},
                             absl::Time expires_at = absl::InfiniteFuture()) {
  return TokenCredential{crypto::Sha256(token), Principal::Kind::kUser, std::move(principal),
                         std::move(roles), expires_at};
}

inline AppCredential App(std::string_view secret, std::string principal,
                         std::vector<std::string> roles = {}, bool enabled = true) {
  return AppCredential{crypto::Sha256(secret), std::move(principal), std::move(roles), enabled};
}

// A CredentialSource backed by a snapshot in memory: Set() bumps the generation like a store write.
class MemorySource : public CredentialSource {
 public:
  uint64_t Generation() override {
    std::lock_guard<std::mutex> lock(mu_);
    return generation_;
  }
  absl::StatusOr<CredentialSnapshot> Load() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++loads_;
    if (!fail_.ok()) return fail_;
    return snapshot_;
  }
  void Set(CredentialSnapshot snapshot) {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_ = std::move(snapshot);
    ++generation_;
  }
  // Every following Load() fails with `status` (OK to heal); the generation moves.
  void FailLoads(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = std::move(status);
    ++generation_;
  }
  int loads() {
    std::lock_guard<std::mutex> lock(mu_);
    return loads_;
  }

 private:
  std::mutex mu_;
  CredentialSnapshot snapshot_;
  uint64_t generation_ = 1;
  int loads_ = 0;
  absl::Status fail_;
};

// Call metadata. gRPC hands the authorizer string_refs into its own buffers; here the strings
// live in a deque so that the refs stay valid while headers are added.
class Md {
 public:
  Md() = default;
  Md(const Md& other) : headers_(other.headers_) {}
  Md& operator=(const Md&) = delete;

  Md& Add(std::string key, std::string value) {
    headers_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Md& Set(const std::string& key, std::string value) {
    Remove(key);
    return Add(key, std::move(value));
  }
  Md& Remove(const std::string& key) {
    std::deque<std::pair<std::string, std::string>> kept;
    for (auto& h : headers_) {
      if (h.first != key) kept.push_back(std::move(h));
    }
    headers_ = std::move(kept);
    return *this;
  }
  Metadata view() const {
    Metadata md;
    for (const auto& [k, v] : headers_) md.emplace(grpc::string_ref(k), grpc::string_ref(v));
    return md;
  }

 private:
  std::deque<std::pair<std::string, std::string>> headers_;
};

struct SignedCall {
  std::string node_id;
  std::string timestamp;
  std::string nonce;      // base64url
  std::string signature;  // base64url

  Md ToMd() const {
    Md md;
    md.Add(std::string(sigv1::kNodeIdHeader), node_id)
        .Add(std::string(sigv1::kTimestampHeader), timestamp)
        .Add(std::string(sigv1::kNonceHeader), nonce)
        .Add(std::string(sigv1::kSignatureHeader), signature);
    return md;
  }
};

// A call signed exactly as docs/auth.md tells a client to sign it.
inline SignedCall SignCall(const crypto::Signer& signer, std::string node_id,
                           absl::Time timestamp = kNow, std::string_view method = kMethod,
                           std::string_view audience = kAudience, size_t nonce_bytes = 16) {
  SignedCall c;
  c.node_id = std::move(node_id);
  c.timestamp = absl::StrCat(absl::ToUnixMillis(timestamp));
  c.nonce = crypto::Base64UrlEncode(Unwrap(crypto::RandomBytes(nonce_bytes)));
  const std::string data = sigv1::StringToSign(method, audience, c.node_id, c.timestamp, c.nonce);
  c.signature = crypto::Base64UrlEncode(Unwrap(signer.Sign(data)));
  return c;
}

inline tls::PeerIdentity NoPeer() { return tls::PeerIdentity{}; }

inline tls::PeerIdentity CertPeer(std::string common_name, std::string spiffe_id = "") {
  tls::PeerIdentity p;
  p.authenticated = true;
  p.common_name = std::move(common_name);
  p.spiffe_id = std::move(spiffe_id);
  p.transport = "ssl";
  return p;
}

// A real Authorizer over a MemorySource-fed CredentialCache and a Policy from `rules`.
class Harness {
 public:
  explicit Harness(CredentialSnapshot snapshot, std::vector<Rule> config_rules = {},
                   AuthorizerOptions options = DefaultOptions()) {
    source_ = std::make_shared<MemorySource>();
    source_->Set(std::move(snapshot));
    cache_ = Unwrap(CredentialCache::Start(source_, absl::ZeroDuration()));
    auto policy = Unwrap(Policy::Build(std::move(config_rules), {}));
    authorizer_ = Unwrap(Authorizer::New(std::move(options), std::move(policy), cache_.get()));
  }

  static AuthorizerOptions DefaultOptions() {
    AuthorizerOptions o;
    o.audience = kAudience;
    return o;
  }

  Decision Authorize(const Md& md, const tls::PeerIdentity& peer = NoPeer(), absl::Time now = kNow,
                     std::string_view method = kMethod) {
    return authorizer_->Authorize(method, md.view(), peer, now);
  }

  Authorizer& authorizer() { return *authorizer_; }
  MemorySource& source() { return *source_; }
  CredentialCache& cache() { return *cache_; }

 private:
  std::shared_ptr<MemorySource> source_;
  std::unique_ptr<CredentialCache> cache_;
  std::unique_ptr<Authorizer> authorizer_;
};

inline Rule MakeRule(std::string pattern, uint32_t authenticators = 0,
                     std::vector<std::string> roles = {}) {
  Rule r;
  r.pattern = std::move(pattern);
  r.authenticators = authenticators;
  r.roles = std::move(roles);
  return r;
}

inline Rule PublicRule(std::string pattern) {
  Rule r;
  r.pattern = std::move(pattern);
  r.is_public = true;
  return r;
}

// A new empty directory under the build tree's test scratch area.
inline std::string NewTempDir() {
  std::filesystem::create_directories(NODEGATE_TEST_TMPDIR);
  std::string templ = std::string(NODEGATE_TEST_TMPDIR) + "/auth-XXXXXX";
  EXPECT_NE(::mkdtemp(templ.data()), nullptr);
  return templ;
}

}  // namespace nodegate::auth::testing
