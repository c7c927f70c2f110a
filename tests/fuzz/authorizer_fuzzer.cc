// Fuzzes the whole auth::Authorizer decision (signature v1 headers, tokens, app keys, mtls and the
// forwarded client certificate) from arbitrary call metadata: the one decision rpc::Server, the
// HTTP gateway and the XML-RPC endpoint act on. Beyond "does not crash", every decision must keep
// the properties the server core relies on (checked below), and a signed call it allowed must be
// refused as a replay the second time.
//
// Input (tests/fuzz/corpus/authorizer/):
//   line 1    the full method ("/api.DiceService/RollDie")
//   line 2    the transport peer: "cn|spiffe-uri|transport", or "-" for none
//   lines 3…  metadata, "name: value" each
// The authorizer is real, over a real CredentialCache and Policy (as in tests/unit/auth): node-a
// (Ed25519, the key of fuzz_fixtures.h), a disabled node-b, a "proxy" node trusted to forward
// client certificates, tokens for alice [admin], bob [] and an expired one, and one app key.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "api/dice.pb.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "crypto/algorithm.h"
#include "crypto/digest.h"
#include "crypto/signer_factory.h"
#include "fuzz_fixtures.h"
#include "nodegate/v1/kv.pb.h"
#include "nodegate/v1/registry.pb.h"

namespace nodegate::fuzz {
namespace {

class FixedSource : public auth::CredentialSource {
 public:
  absl::StatusOr<uint64_t> Generation() override { return 1; }
  absl::StatusOr<auth::CredentialSnapshot> Load() override {
    auth::CredentialSnapshot s;
    std::shared_ptr<const crypto::Verifier> verifier =
        Must(crypto::NewVerifier(crypto::Algorithm::kEd25519, kNodeAPublicKeyPem));
    auto node = [&](const char* id, bool enabled, std::vector<std::string> roles) {
      auth::NodeCredential n;
      n.id = id;
      n.enabled = enabled;
      n.roles = std::move(roles);
      n.verifier = verifier;
      s.nodes[n.id] = n;
    };
    node("node-a", true, {"worker"});
    node("node-b", false, {"worker"});
    node("proxy", true, {"proxy"});
    auto token = [&](const char* token, const char* who, std::vector<std::string> roles,
                     absl::Time expires) {
      auth::TokenCredential t;
      t.hash = crypto::Sha256(token);
      t.principal = who;
      t.roles = std::move(roles);
      t.expires_at = expires;
      s.tokens[t.hash] = t;
    };
    token("admin-token-0123456789abcdef", "alice", {"admin"}, absl::InfiniteFuture());
    token("user-token-0123456789abcdef", "bob", {}, absl::InfiniteFuture());
    token("expired-token-0123456789abcdef", "carol", {"admin"}, kNow - absl::Hours(1));
    s.apps["app-1"] =
        auth::AppCredential{crypto::Sha256("app-secret-0123456789abcdef"), "app-1", {"kv"}, true};
    return s;
  }
};

struct Fixture {
  std::unique_ptr<auth::CredentialCache> cache;
  std::shared_ptr<const auth::Policy> policy;
  auth::AuthorizerOptions options;

  Fixture() {
    // Link the generated descriptors in: the policy reads (nodegate.v1.auth) from the pool.
    api::RollDieRequest::descriptor();
    nodegate::v1::ListNodesRequest::descriptor();
    nodegate::v1::KeysRequest::descriptor();
    cache =
        Must(auth::CredentialCache::Start(std::make_shared<FixedSource>(), absl::ZeroDuration()));
    std::vector<auth::Rule> config;
    auth::Rule pub;
    pub.pattern = "/fuzz.Public/*";
    pub.is_public = true;
    config.push_back(pub);
    auth::Rule sig;
    sig.pattern = "/fuzz.Signed/*";
    sig.authenticators = auth::kSignature;
    sig.roles = {"worker"};
    config.push_back(sig);
    auth::Rule admin;
    admin.pattern = "/fuzz.Admin/*";
    admin.authenticators = auth::kToken | auth::kAppKey | auth::kMtls;
    admin.roles = {"admin"};
    config.push_back(admin);
    policy = Must(auth::Policy::Build(
        std::move(config),
        Must(auth::RulesFromProtoOptions({"api.DiceService", "nodegate.v1.Identity",
                                          "nodegate.v1.NodeRegistry", "nodegate.v1.KeyValue",
                                          "grpc.health.v1.Health"}))));
    options.audience = kAudience;
    options.replay_cache_capacity = 64;
    options.forwarded.enabled = true;
    options.forwarded.trusted_proxies = {"proxy"};
    options.forwarded.trust = [] { return TrustSet(); };
  }
};

}  // namespace
}  // namespace nodegate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nodegate;  // NOLINT(google-build-using-namespace)
  static fuzz::Fixture* fixture = new fuzz::Fixture();
  fuzz::HeaderBlock block =
      fuzz::SplitHeaderBlock(std::string_view(reinterpret_cast<const char*>(data), size));
  if (block.lines.size() < 2) return 0;
  const std::string method(block.lines[0]);
  const tls::PeerIdentity peer = fuzz::ParsePeer(block.lines[1]);
  // gRPC hands the authorizer string_refs into its own buffers; these outlive the calls below.
  std::deque<std::string> storage;
  auth::Metadata md;
  for (size_t i = 2; i < block.lines.size(); ++i) {
    auto [name, value] = fuzz::SplitHeader(block.lines[i]);
    const std::string& n = storage.emplace_back(name);
    const std::string& v = storage.emplace_back(value);
    md.emplace(grpc::string_ref(n.data(), n.size()), grpc::string_ref(v.data(), v.size()));
  }
  // A fresh authorizer per input (a small replay cache), so that each input's decision depends on
  // that input alone; then the same call again, which a signature must fail as a replay.
  auto authorizer =
      fuzz::Must(auth::Authorizer::New(fixture->options, fixture->policy, fixture->cache.get()));
  const auth::Rule& rule = fixture->policy->Resolve(method);
  const uint32_t accepted =
      (rule.authenticators == 0 ? auth::kAllAuthenticators : rule.authenticators) &
      fixture->options.enabled;
  bool signed_and_allowed = false;
  for (int round = 0; round < 2; ++round) {
    auth::Decision d = authorizer->Authorize(method, md, peer, fuzz::kNow);
    (void)d.principal.ToString();
    (void)auth::RejectionName(d.rejection);
    // Allowed exactly when no reason to refuse was recorded.
    if (d.status.ok() != (d.rejection == auth::Rejection::kCount)) __builtin_trap();
    if (round == 1 && signed_and_allowed && d.rejection != auth::Rejection::kSignatureReplay) {
      __builtin_trap();  // a signature is good for one call
    }
    if (!d.status.ok()) {
      // PERMISSION_DENIED only for a caller who was identified (UNAUTHENTICATED otherwise).
      if (d.status.error_code() == grpc::StatusCode::PERMISSION_DENIED &&
          !d.principal.authenticated()) {
        __builtin_trap();
      }
      continue;
    }
    if (rule.is_public) {
      if (d.principal.authenticated()) __builtin_trap();  // a public rule looks at no credential
      continue;
    }
    // Default deny, and the handler's Principal is vouched for only by what the rule accepts and
    // holds a role the rule asks for.
    if (!d.principal.authenticated()) __builtin_trap();
    if ((d.principal.authenticators & ~accepted) != 0) __builtin_trap();
    if (!rule.roles.empty() && !d.principal.HasAnyRole(rule.roles)) __builtin_trap();
    if (round == 0) signed_and_allowed = (d.principal.authenticators & auth::kSignature) != 0;
  }
  return 0;
}
