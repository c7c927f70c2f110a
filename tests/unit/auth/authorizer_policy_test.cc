// The Authorizer applying the method's rule (design §4): the decision, and the principal it hands
// the handler for a call it let through.
#include <string>

#include "auth/authorizer.h"
#include "crypto/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/auth.h"

namespace nodegate::auth {
namespace {

using crypto::Algorithm;
using ::nodegate::testlib::App;
using ::nodegate::testlib::CertPeer;
using ::nodegate::testlib::Harness;
using ::nodegate::testlib::kMethod;
using ::nodegate::testlib::kNow;
using ::nodegate::testlib::MakeRule;
using ::nodegate::testlib::Md;
using ::nodegate::testlib::Node;
using ::nodegate::testlib::NoPeer;
using ::nodegate::testlib::PublicRule;
using ::nodegate::testlib::Token;

CredentialSnapshot Credentials() {
  CredentialSnapshot s;
  s.nodes.emplace("node-a", Node("node-a", Algorithm::kEd25519, {"worker"}));
  s.tokens.emplace(crypto::Sha256("tok"), Token("tok", "alice", {"reader", "ops"}));
  s.apps.emplace("billing", App("sec", "billing-svc", {"kv.write"}));
  return s;
}

Md TokenCall() { return Md().Add("authorization", "Bearer tok"); }

// Enforcement.

TEST(PolicyEnforcementTest, PublicRuleAllowsWithNoCredential) {
  Harness h(Credentials(), {PublicRule(kMethod)});
  Decision d = h.Authorize(Md());
  EXPECT_TRUE(d.status.ok());
  EXPECT_EQ(d.rejection, Rejection::kCount);
  EXPECT_FALSE(d.principal.authenticated());
}

TEST(PolicyEnforcementTest, PublicRuleDoesNotEvenLookAtCredentials) {
  Harness h(Credentials(), {PublicRule(kMethod)});
  EXPECT_TRUE(h.Authorize(Md().Add("authorization", "Bearer wrong")).status.ok());
}

TEST(PolicyEnforcementTest, HealthServiceIsPublicByDefault) {
  Harness h(Credentials());
  EXPECT_TRUE(h.Authorize(Md(), NoPeer(), kNow, "/grpc.health.v1.Health/Check").status.ok());
}

TEST(PolicyEnforcementTest, DefaultRuleRefusesACallWithNoCredential) {
  Harness h(Credentials());
  Decision d = h.Authorize(Md());
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(d.status.error_message(),
            "no credential (this method accepts: mtls,signature,token,app_key)");
  EXPECT_EQ(d.rejection, Rejection::kNoCredential);
  EXPECT_EQ(h.authorizer().rejections(Rejection::kNoCredential), 1u);
}

TEST(PolicyEnforcementTest, DefaultRuleAllowsAnyAuthenticatedCaller) {
  Harness h(Credentials());
  EXPECT_TRUE(h.Authorize(TokenCall()).status.ok());
}

TEST(PolicyEnforcementTest, CredentialOfAnAuthenticatorTheRuleDoesNotAcceptIsRefused) {
  Harness h(Credentials(), {MakeRule(kMethod, kSignature)});
  Decision d = h.Authorize(TokenCall());
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(d.status.error_message(),
            "credential not accepted for this method (accepts: signature)");
  EXPECT_EQ(d.rejection, Rejection::kNotAccepted);
  EXPECT_FALSE(d.principal.authenticated());
}

TEST(PolicyEnforcementTest, CertificateIsNotAcceptedWhereTheRuleWantsATokenOnly) {
  Harness h(Credentials(), {MakeRule(kMethod, kToken)});
  Decision d = h.Authorize(Md(), CertPeer("node-a"));
  EXPECT_EQ(d.rejection, Rejection::kNotAccepted);
  EXPECT_EQ(d.status.error_message(), "credential not accepted for this method (accepts: token)");
}

TEST(PolicyEnforcementTest, AcceptedCredentialPassesAlongsideAnUnacceptedOne) {
  Harness h(Credentials(), {MakeRule(kMethod, kToken)});
  Decision d = h.Authorize(TokenCall(), CertPeer("node-a"));
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.authenticators, kToken);
}

TEST(PolicyEnforcementTest, UnacceptedSignatureHeadersAreNotVerified) {
  // Signatures are not accepted here: made-up signature headers neither fail nor vouch.
  Harness h(Credentials(), {MakeRule(kMethod, kToken)});
  Md md = TokenCall();
  md.Add("x-node-id", "node-a")
      .Add("x-node-timestamp", "1")
      .Add("x-node-nonce", "x")
      .Add("x-node-signature", "y");
  Decision d = h.Authorize(md);
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "user:alice");
}

TEST(PolicyEnforcementTest, AllowsACallerHoldingOneOfTheRoles) {
  Harness h(Credentials(), {MakeRule(kMethod, 0, {"admin", "ops"})});
  EXPECT_TRUE(h.Authorize(TokenCall()).status.ok());
}

TEST(PolicyEnforcementTest, RefusesACallerWithoutTheRoleAsPermissionDenied) {
  Harness h(Credentials(), {MakeRule(kMethod, 0, {"admin", "root"})});
  Decision d = h.Authorize(TokenCall());
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(d.status.error_message(), "permission denied: needs one of the roles admin, root");
  EXPECT_EQ(d.rejection, Rejection::kRoleMissing);
  // The caller is known: the access log names who was refused.
  EXPECT_EQ(d.principal.ToString(), "user:alice");
  EXPECT_THAT(d.detail, ::testing::HasSubstr("user:alice"));
}

TEST(PolicyEnforcementTest, UnauthenticatedCallerIsNeverPermissionDenied) {
  // Abseil's rule: PERMISSION_DENIED is for callers who were identified.
  Harness h(Credentials(), {MakeRule(kMethod, 0, {"admin"})});
  EXPECT_EQ(h.Authorize(Md()).status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(PolicyEnforcementTest, WildcardRuleAppliesToEveryMethodOfTheService) {
  Harness h(Credentials(), {MakeRule("/api.DiceService/*", 0, {"admin"})});
  EXPECT_EQ(h.Authorize(TokenCall(), NoPeer(), kNow, "/api.DiceService/Anything").rejection,
            Rejection::kRoleMissing);
  EXPECT_TRUE(h.Authorize(TokenCall(), NoPeer(), kNow, "/other.Service/M").status.ok());
}

// Reload (SIGHUP): a new policy governs the calls that start after SetPolicy.

TEST(PolicyReloadTest, SetPolicyAppliesToTheNextCall) {
  Harness h(Credentials(), {PublicRule(kMethod)});
  ASSERT_TRUE(h.Authorize(Md()).status.ok());
  absl::StatusOr<std::shared_ptr<const Policy>> stricter =
      Policy::Build({MakeRule(kMethod, kToken, {"ops"})}, {});
  ASSERT_TRUE(stricter.ok()) << stricter.status();

  h.authorizer().SetPolicy(*stricter);

  EXPECT_EQ(h.Authorize(Md()).status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(h.Authorize(TokenCall()).status.ok());
  EXPECT_EQ(h.authorizer().policy().get(), stricter->get());
}

TEST(PolicyReloadTest, PolicyTakenBeforeASwapStaysValid) {
  Harness h(Credentials(), {PublicRule(kMethod)});
  std::shared_ptr<const Policy> before = h.authorizer().policy();
  absl::StatusOr<std::shared_ptr<const Policy>> next =
      Policy::Build({MakeRule(kMethod, kToken, {"nobody"})}, {});
  ASSERT_TRUE(next.ok()) << next.status();

  h.authorizer().SetPolicy(*next);

  EXPECT_TRUE(before->Resolve(kMethod).is_public);
  EXPECT_FALSE(h.authorizer().policy()->Resolve(kMethod).is_public);
  EXPECT_EQ(h.Authorize(TokenCall()).status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST(PolicyReloadTest, EachAuthorizerKeepsItsOwnPolicyOnOneThread) {
  // The per-thread copy must never hand one authorizer's policy to another.
  Harness open(Credentials(), {PublicRule(kMethod)});
  Harness closed(Credentials());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(open.Authorize(Md()).status.ok());
    EXPECT_FALSE(closed.Authorize(Md()).status.ok());
  }
}

}  // namespace
}  // namespace nodegate::auth
