// Shared by the console/gateway tests: a real Authorizer over an in-memory credential snapshot
// (tokens for alice [admin] and bob [no roles]), a real SQLite KV store, a test CA.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "api/dice.pb.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "crypto/digest.h"
#include "nodegate/v1/kv.pb.h"
#include "nodegate/v1/registry.pb.h"
#include "pki/certificate_authority.h"
#include "pki/certificate_info.h"
#include "store/sqlite/sqlite_stores.h"
#include "tls/credential_set.h"

namespace nodegate::http::testing {

inline constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
inline constexpr char kUserToken[] = "user-token-0123456789abcdef";

class FixedSource : public auth::CredentialSource {
 public:
  uint64_t Generation() override { return 1; }
  absl::StatusOr<auth::CredentialSnapshot> Load() override {
    auth::CredentialSnapshot s;
    auto add = [&](const char* token, const char* who, std::vector<std::string> roles) {
      auth::TokenCredential t;
      t.hash = crypto::Sha256(token);
      t.principal = who;
      t.roles = std::move(roles);
      s.tokens[t.hash] = t;
    };
    add(kAdminToken, "alice", {"admin"});
    add(kUserToken, "bob", {});
    return s;
  }
};

struct AuthFixture {
  std::unique_ptr<auth::CredentialCache> cache;
  std::shared_ptr<auth::Authorizer> authorizer;

  static AuthFixture Make(std::vector<auth::Rule> config_rules = {},
                          std::shared_ptr<auth::CredentialSource> source = nullptr) {
    if (source == nullptr) source = std::make_shared<FixedSource>();
    AuthFixture f;
    // Link the generated descriptors in: the policy reads (nodegate.v1.auth) from the pool.
    api::RollDieRequest::descriptor();
    nodegate::v1::ListNodesRequest::descriptor();
    nodegate::v1::KeysRequest::descriptor();
    auto cache = auth::CredentialCache::Start(std::move(source), absl::ZeroDuration());
    EXPECT_TRUE(cache.ok()) << cache.status();
    f.cache = *std::move(cache);
    auto proto = auth::RulesFromProtoOptions({"api.DiceService", "nodegate.v1.Identity",
                                              "nodegate.v1.NodeRegistry", "nodegate.v1.KeyValue",
                                              "grpc.health.v1.Health"});
    EXPECT_TRUE(proto.ok()) << proto.status();
    auto policy = auth::Policy::Build(std::move(config_rules), *std::move(proto));
    EXPECT_TRUE(policy.ok()) << policy.status();
    auth::AuthorizerOptions o;
    o.audience = "test-node";
    auto a = auth::Authorizer::New(o, *policy, f.cache.get());
    EXPECT_TRUE(a.ok()) << a.status();
    f.authorizer = *std::move(a);
    return f;
  }
};

inline std::string TempDir(const std::string& name) {
  std::filesystem::path p = std::filesystem::path(NODEGATE_TEST_TMPDIR) / "http" / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

struct TestPki {
  pki::PemPair ca;
  pki::PemPair server;
  pki::PemPair client;  // CN dev-client, spiffe://nodegate.local/node/dev-client

  static TestPki Make() {
    TestPki t;
    pki::CaOptions co;
    auto ca = pki::CertificateAuthority::Create(co);
    EXPECT_TRUE(ca.ok()) << ca.status();
    t.ca = *ca;
    auto loaded = pki::CertificateAuthority::Load(t.ca.cert_pem, t.ca.key_pem);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    pki::IssueOptions so;
    so.common_name = "localhost";
    so.server = true;
    so.sans = {"127.0.0.1", "localhost"};
    t.server = *(*loaded)->Issue(so);
    pki::IssueOptions c;
    c.common_name = "dev-client";
    c.client = true;
    c.node_id = "dev-client";
    t.client = *(*loaded)->Issue(c);
    return t;
  }

  std::shared_ptr<const tls::CredentialSet> ServerSet() const {
    auto set = std::make_shared<tls::CredentialSet>();
    set->cert_chain_pem = server.cert_pem;
    set->key_pem = server.key_pem;
    set->ca_pem = ca.cert_pem;
    set->leaf = *pki::InspectCertificatePem(server.cert_pem, "server");
    set->content_digest = crypto::Sha256Hex(server.cert_pem + server.key_pem + ca.cert_pem);
    return set;
  }
};

}  // namespace nodegate::http::testing
