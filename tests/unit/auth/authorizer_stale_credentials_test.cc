// The Authorizer over a credential snapshot the store has not confirmed for longer than
// auth.credential_max_age (issue 14): what the snapshot decides fails closed with UNAVAILABLE, what
// it does not decide keeps working, and recovery needs nothing but a good refresh.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "crypto/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/auth.h"
#include "testlib/keys.h"
#include "testlib/manual_clock.h"
#include "testlib/status.h"

namespace nodegate::auth {
namespace {

using crypto::Algorithm;
using ::nodegate::testlib::App;
using ::nodegate::testlib::CertPeer;
using ::nodegate::testlib::kMethod;
using ::nodegate::testlib::kNow;
using ::nodegate::testlib::MakeRule;
using ::nodegate::testlib::ManualClock;
using ::nodegate::testlib::Md;
using ::nodegate::testlib::MemorySource;
using ::nodegate::testlib::Node;
using ::nodegate::testlib::NoPeer;
using ::nodegate::testlib::PublicRule;
using ::nodegate::testlib::SignCall;
using ::nodegate::testlib::SignerFor;
using ::nodegate::testlib::Token;
using ::nodegate::testlib::Unwrap;
using ::testing::HasSubstr;

constexpr char kAliceToken[] = "ngt_alice-token-0123456789abcdef";
constexpr char kAppSecret[] = "ngs_billing-secret-0123456789abc";
constexpr char kPublic[] = "/nodegate.v1.Identity/WhoAmI";
constexpr char kAdminOnly[] = "/nodegate.v1.NodeRegistry/Remove";
constexpr absl::Duration kMaxAge = absl::Seconds(60);

CredentialSnapshot Credentials() {
  CredentialSnapshot s;
  s.nodes.emplace("node-a", Node("node-a", Algorithm::kEd25519, {"admin"}));
  s.tokens.emplace(crypto::Sha256(kAliceToken), Token(kAliceToken, "alice", {"admin"}));
  s.apps.emplace("billing", App(kAppSecret, "billing-svc", {"admin"}));
  return s;
}

Md BearerAlice() { return Md().Add("authorization", absl::StrCat("Bearer ", kAliceToken)); }

class StaleCredentialsTest : public ::testing::Test {
 protected:
  void Build(AuthorizerOptions options = testlib::Harness::DefaultOptions()) {
    source_ = std::make_shared<MemorySource>();
    source_->Set(Credentials());
    cache_ = Unwrap(CredentialCache::Start(source_, absl::ZeroDuration(), clock_, kMaxAge));
    auto policy = Unwrap(Policy::Build(
        {PublicRule(kPublic), MakeRule(kAdminOnly, 0, {"admin"}), MakeRule(kMethod)}, {}));
    authorizer_ = Unwrap(Authorizer::New(std::move(options), std::move(policy), cache_.get()));
  }
  void SetUp() override { Build(); }

  // The store goes away and `d` passes on this replica's clock.
  void StoreDownFor(absl::Duration d) {
    source_->FailGenerations(absl::UnavailableError("store: postgres 127.0.0.1:5432: down"));
    clock_.Advance(d);
    EXPECT_FALSE(cache_->Refresh().ok());
  }
  void StoreBack() {
    source_->FailGenerations(absl::OkStatus());
    ASSERT_TRUE(cache_->Refresh().ok());
  }

  Decision Authorize(const Md& md, const tls::PeerIdentity& peer = NoPeer(),
                     std::string_view method = kMethod) {
    return authorizer_->Authorize(method, md.view(), peer, kNow);
  }

  static void ExpectStale(const Decision& d) {
    EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAVAILABLE) << d.status.error_message();
    EXPECT_EQ(d.rejection, Rejection::kCredentialsStale) << RejectionName(d.rejection);
    EXPECT_THAT(d.status.error_message(), HasSubstr("auth.credential_max_age"));
    EXPECT_FALSE(d.principal.authenticated());
  }

  ManualClock clock_;
  std::shared_ptr<MemorySource> source_;
  std::unique_ptr<CredentialCache> cache_;
  std::unique_ptr<Authorizer> authorizer_;
};

TEST_F(StaleCredentialsTest, WithinTheBoundTheLastGoodSnapshotStillDecides) {
  StoreDownFor(kMaxAge);
  Decision d = Authorize(BearerAlice());
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.id, "alice");
}

TEST_F(StaleCredentialsTest, TokenCallIsRefusedOverTheBoundAndAcceptedAfterRecovery) {
  StoreDownFor(kMaxAge + absl::Seconds(1));

  Decision refused = Authorize(BearerAlice());
  ExpectStale(refused);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("snapshot is 1m1s old"));
  EXPECT_EQ(authorizer_->rejections(Rejection::kCredentialsStale), 1u);
  EXPECT_EQ(RejectionName(Rejection::kCredentialsStale), "credentials_stale");

  StoreBack();
  Decision d = Authorize(BearerAlice());
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.id, "alice");
}

TEST_F(StaleCredentialsTest, EvenAnUnknownTokenIsUnavailableNotUnauthenticated) {
  // The snapshot cannot tell "revoked" from "issued while we could not see": no verdict either way.
  StoreDownFor(kMaxAge + absl::Seconds(1));
  ExpectStale(Authorize(Md().Add("authorization", "Bearer ngt_never-issued-0123456789ab")));
}

TEST_F(StaleCredentialsTest, SignatureIsRefusedOverTheBound) {
  StoreDownFor(kMaxAge + absl::Seconds(1));
  ExpectStale(Authorize(SignCall(*SignerFor(Algorithm::kEd25519), "node-a").ToMd()));
}

TEST_F(StaleCredentialsTest, AppKeyIsRefusedOverTheBound) {
  StoreDownFor(kMaxAge + absl::Seconds(1));
  ExpectStale(Authorize(Md().Add("app-key", "billing").Add("app-secret", kAppSecret)));
}

TEST_F(StaleCredentialsTest, PublicMethodsKeepWorking) {
  StoreDownFor(absl::Hours(1));
  EXPECT_TRUE(Authorize(Md(), NoPeer(), kPublic).status.ok());
  EXPECT_TRUE(Authorize(BearerAlice(), NoPeer(), kPublic).status.ok());
}

TEST_F(StaleCredentialsTest, CertificateOnlyMtlsKeepsWorkingWithoutRoles) {
  StoreDownFor(absl::Hours(1));
  Decision d = Authorize(Md(), CertPeer("node-a"));
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "node:node-a");
  EXPECT_TRUE(d.principal.roles.empty());  // roles come from the snapshot: unknown now
}

TEST_F(StaleCredentialsTest, MtlsOnARoleRuleIsUnavailableNotPermissionDenied) {
  ASSERT_TRUE(Authorize(Md(), CertPeer("node-a"), kAdminOnly).status.ok());
  StoreDownFor(kMaxAge + absl::Seconds(1));
  ExpectStale(Authorize(Md(), CertPeer("node-a"), kAdminOnly));
}

TEST_F(StaleCredentialsTest, RegisteredOnlyMtlsIsRefusedOverTheBound) {
  AuthorizerOptions o = testlib::Harness::DefaultOptions();
  o.mtls_require_registered = true;
  Build(o);
  ASSERT_TRUE(Authorize(Md(), CertPeer("node-a")).status.ok());
  StoreDownFor(kMaxAge + absl::Seconds(1));
  ExpectStale(Authorize(Md(), CertPeer("node-a")));
  StoreBack();
  EXPECT_TRUE(Authorize(Md(), CertPeer("node-a")).status.ok());
}

TEST_F(StaleCredentialsTest, ProxyTrustedByRoleIsRefusedOverTheBound) {
  CredentialSnapshot s = Credentials();
  s.nodes.emplace("edge", Node("edge", Algorithm::kEd25519, {"proxy"}));
  AuthorizerOptions o = testlib::Harness::DefaultOptions();
  o.forwarded.enabled = true;
  o.forwarded.trust = [] { return nullptr; };
  Build(o);
  source_->Set(s);
  ASSERT_TRUE(cache_->Refresh().ok());
  StoreDownFor(kMaxAge + absl::Seconds(1));
  ExpectStale(Authorize(Md().Add("x-forwarded-client-cert", "anything"), CertPeer("edge")));
}

}  // namespace
}  // namespace nodegate::auth
