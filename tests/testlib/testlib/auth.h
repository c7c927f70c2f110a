// Authentication fixtures: credentials made from real keys, an in-memory CredentialSource, call
// metadata with stable backing storage, calls signed per wire format v1 (design §3), peers, rules,
// principals, and a real Authorizer over all of it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "auth/principal.h"
#include "crypto/algorithm.h"
#include "crypto/signer.h"
#include "tls/peer_identity.h"

namespace nodegate::testlib {

inline constexpr char kAudience[] = "node-server";
inline constexpr char kMethod[] = "/api.DiceService/RollDie";
// A fixed "now" keeps every timestamp in the tests reproducible.
inline const absl::Time kNow = absl::FromUnixMillis(1'767'225'600'000);

// Bearer tokens of TokenSource: alice has role admin, bob has none.
inline constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
inline constexpr char kUserToken[] = "user-token-0123456789abcdef";

auth::NodeCredential Node(std::string id, crypto::Algorithm alg,
                          std::vector<std::string> roles = {}, int key_index = 0);
auth::TokenCredential Token(std::string_view token, std::string principal,
                            std::vector<std::string> roles = {},
                            absl::Time expires_at = absl::InfiniteFuture());
auth::AppCredential App(std::string_view secret, std::string principal,
                        std::vector<std::string> roles = {}, bool enabled = true);

auth::Principal MakePrincipal(auth::Principal::Kind kind, std::string id,
                              std::vector<std::string> roles = {}, uint32_t authenticators = 0);

// A CredentialSource backed by a snapshot in memory: Set() bumps the generation like a store write.
class MemorySource : public auth::CredentialSource {
 public:
  absl::StatusOr<uint64_t> Generation() override;
  absl::StatusOr<auth::CredentialSnapshot> Load() override;
  void Set(auth::CredentialSnapshot snapshot);
  // Every following Load() fails with `status` (OK to heal); the generation moves.
  void FailLoads(absl::Status status);
  // Every following Generation() fails with `status` (OK to heal), as a store that cannot be
  // reached does.
  void FailGenerations(absl::Status status);
  int loads();

 private:
  std::mutex mu_;
  auth::CredentialSnapshot snapshot_;
  uint64_t generation_ = 1;
  int loads_ = 0;
  absl::Status fail_;
  absl::Status fail_generation_;
};

// A MemorySource holding kAdminToken (alice, admin) and kUserToken (bob, no roles).
std::shared_ptr<MemorySource> TokenSource();

// Call metadata. gRPC hands the authorizer string_refs into its own buffers; here the strings
// live in a deque so that the refs stay valid while headers are added.
class Md {
 public:
  Md() = default;
  Md(const Md& other) : headers_(other.headers_) {}
  Md& operator=(const Md&) = delete;

  Md& Add(std::string key, std::string value);
  Md& Set(const std::string& key, std::string value);
  Md& Remove(const std::string& key);
  auth::Metadata view() const;

 private:
  std::deque<std::pair<std::string, std::string>> headers_;
};

struct SignedCall {
  std::string node_id;
  std::string timestamp;
  std::string nonce;      // base64url
  std::string signature;  // base64url

  Md ToMd() const;
};

// A call signed exactly as docs/auth.md tells a client to sign it.
SignedCall SignCall(const crypto::Signer& signer, std::string node_id, absl::Time timestamp = kNow,
                    std::string_view method = kMethod, std::string_view audience = kAudience,
                    size_t nonce_bytes = 16);

tls::PeerIdentity NoPeer();
tls::PeerIdentity CertPeer(std::string common_name, std::string spiffe_id = "");

auth::Rule MakeRule(std::string pattern, uint32_t authenticators = 0,
                    std::vector<std::string> roles = {});
auth::Rule PublicRule(std::string pattern);

// A real Authorizer over a MemorySource-fed CredentialCache and a Policy from `config_rules`.
class Harness {
 public:
  explicit Harness(auth::CredentialSnapshot snapshot, std::vector<auth::Rule> config_rules = {},
                   auth::AuthorizerOptions options = DefaultOptions());

  static auth::AuthorizerOptions DefaultOptions();

  auth::Decision Authorize(const Md& md, const tls::PeerIdentity& peer = NoPeer(),
                           absl::Time now = kNow, std::string_view method = kMethod);

  auth::Authorizer& authorizer() { return *authorizer_; }
  MemorySource& source() { return *source_; }
  auth::CredentialCache& cache() { return *cache_; }

 private:
  std::shared_ptr<MemorySource> source_;
  std::unique_ptr<auth::CredentialCache> cache_;
  std::unique_ptr<auth::Authorizer> authorizer_;
};

// The node's policy as it serves it: the (nodegate.v1.auth) options of every service the node
// registers, overridden by `config_rules`, enforced by a real Authorizer (audience "test-node")
// over `source` (TokenSource() when null).
struct ServicePolicyAuth {
  std::unique_ptr<auth::CredentialCache> cache;
  std::shared_ptr<auth::Authorizer> authorizer;

  static ServicePolicyAuth Make(std::vector<auth::Rule> config_rules = {},
                                std::shared_ptr<auth::CredentialSource> source = nullptr);
};

}  // namespace nodegate::testlib
