// The token and app-key authenticators (design §3) as the Authorizer applies them.
#include <string>

#include "absl/strings/str_cat.h"
#include "auth/authorizer.h"
#include "crypto/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/auth.h"

namespace nodegate::auth {
namespace {

using ::nodegate::testlib::App;
using ::nodegate::testlib::Harness;
using ::nodegate::testlib::kNow;
using ::nodegate::testlib::Md;
using ::nodegate::testlib::Token;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "ngt_alice-token-0123456789abcdef";
constexpr char kExpiredToken[] = "ngt_expired-token-0123456789abcd";
constexpr char kAppSecret[] = "ngs_billing-secret-0123456789abc";
constexpr char kDisabledSecret[] = "ngs_disabled-secret-0123456789ab";

CredentialSnapshot Credentials() {
  CredentialSnapshot s;
  s.tokens.emplace(crypto::Sha256(kAliceToken), Token(kAliceToken, "alice", {"reader", "ops"}));
  s.tokens.emplace(crypto::Sha256(kExpiredToken),
                   Token(kExpiredToken, "bob", {}, kNow - absl::Seconds(1)));
  s.apps.emplace("billing", App(kAppSecret, "billing-svc", {"kv.write"}));
  s.apps.emplace("retired", App(kDisabledSecret, "retired-svc", {}, /*enabled=*/false));
  return s;
}

void ExpectRefused(const Decision& d, std::string_view message, Rejection why) {
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << d.status.error_message();
  EXPECT_EQ(d.status.error_message(), message);
  EXPECT_EQ(d.rejection, why) << RejectionName(d.rejection);
  EXPECT_FALSE(d.principal.authenticated());
}

// No secret in what the client sees (message) nor in what the access log sees (detail).
void ExpectNoSecret(const Decision& d, std::string_view secret) {
  EXPECT_THAT(d.status.error_message(), Not(HasSubstr(std::string(secret))));
  EXPECT_THAT(d.detail, Not(HasSubstr(std::string(secret))));
  EXPECT_THAT(d.principal.ToString(), Not(HasSubstr(std::string(secret))));
}

class TokenTest : public ::testing::Test {
 protected:
  TokenTest() : h_(Credentials()) {}
  Harness h_;
};

TEST_F(TokenTest, AllowsBearerToken) {
  Decision d = h_.Authorize(Md().Add("authorization", absl::StrCat("Bearer ", kAliceToken)));
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "user:alice");
  EXPECT_THAT(d.principal.roles, ElementsAre("reader", "ops"));
  EXPECT_EQ(d.principal.authenticators, kToken);
}

TEST_F(TokenTest, BearerSchemeIsCaseInsensitive) {
  for (std::string scheme : {"bearer ", "BEARER ", "bEaReR "}) {
    Decision d = h_.Authorize(Md().Add("authorization", scheme + kAliceToken));
    EXPECT_TRUE(d.status.ok()) << scheme << ": " << d.status.error_message();
  }
}

TEST_F(TokenTest, AllowsAccessTokenHeader) {
  Decision d = h_.Authorize(Md().Add("access-token", kAliceToken));
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "user:alice");
}

TEST_F(TokenTest, AllowsBothHeadersWhenTheyAgree) {
  Decision d = h_.Authorize(Md().Add("authorization", absl::StrCat("Bearer ", kAliceToken))
                                .Add("access-token", kAliceToken));
  EXPECT_TRUE(d.status.ok()) << d.status.error_message();
}

TEST_F(TokenTest, RejectsConflictingHeaders) {
  Decision d = h_.Authorize(Md().Add("authorization", absl::StrCat("Bearer ", kAliceToken))
                                .Add("access-token", kExpiredToken));
  ExpectRefused(d, "token: authorization and access-token disagree", Rejection::kMalformed);
  ExpectNoSecret(d, kAliceToken);
  ExpectNoSecret(d, kExpiredToken);
}

TEST_F(TokenTest, RejectsUnknownToken) {
  Decision d = h_.Authorize(Md().Add("authorization", "Bearer ngt_nobody-knows-this-token"));
  ExpectRefused(d, "token: unknown or revoked", Rejection::kTokenInvalid);
  ExpectNoSecret(d, "ngt_nobody-knows-this-token");
}

TEST_F(TokenTest, RejectsTokenDifferingOnlyInTheLastCharacter) {
  std::string almost = kAliceToken;
  almost.back() = 'x';
  ExpectRefused(h_.Authorize(Md().Add("access-token", almost)), "token: unknown or revoked",
                Rejection::kTokenInvalid);
}

TEST_F(TokenTest, RejectsExpiredToken) {
  Decision d = h_.Authorize(Md().Add("authorization", absl::StrCat("Bearer ", kExpiredToken)));
  ExpectRefused(d, "token: expired", Rejection::kTokenExpired);
  ExpectNoSecret(d, kExpiredToken);
  EXPECT_EQ(h_.authorizer().rejections(Rejection::kTokenExpired), 1u);
}

TEST_F(TokenTest, TokenExpiresAtItsExpiryInstant) {
  const absl::Time expiry = kNow + absl::Hours(1);
  CredentialSnapshot s;
  s.tokens.emplace(crypto::Sha256(kAliceToken), Token(kAliceToken, "alice", {}, expiry));
  Harness h(std::move(s));
  Md md;
  md.Add("access-token", kAliceToken);
  EXPECT_TRUE(h.Authorize(md, {}, expiry - absl::Milliseconds(1)).status.ok());
  EXPECT_EQ(h.Authorize(md, {}, expiry).rejection, Rejection::kTokenExpired);
}

TEST_F(TokenTest, RejectsNonBearerAuthorization) {
  for (std::string value : {"Basic YWxpY2U6c2VjcmV0", "Token abc", "Bearer", "Bearer\tabc", ""}) {
    Decision d = h_.Authorize(Md().Add("authorization", value));
    ExpectRefused(d, "token: authorization is not a Bearer token", Rejection::kMalformed);
    ExpectNoSecret(d, "YWxpY2U6c2VjcmV0");
  }
}

TEST_F(TokenTest, RejectsEmptyToken) {
  ExpectRefused(h_.Authorize(Md().Add("authorization", "Bearer ")), "token: empty",
                Rejection::kMalformed);
  ExpectRefused(h_.Authorize(Md().Add("access-token", "")), "token: empty", Rejection::kMalformed);
}

TEST_F(TokenTest, RejectsOversizedToken) {
  ExpectRefused(h_.Authorize(Md().Add("access-token", std::string(1025, 't'))), "token: too long",
                Rejection::kMalformed);
}

TEST_F(TokenTest, NodeKindTokenYieldsANodePrincipal) {
  CredentialSnapshot s;
  TokenCredential t = Token(kAliceToken, "node-b", {"worker"});
  t.kind = Principal::Kind::kNode;
  s.tokens.emplace(t.hash, t);
  Harness h(std::move(s));
  EXPECT_EQ(h.Authorize(Md().Add("access-token", kAliceToken)).principal.ToString(), "node:node-b");
}

// App keys.

class AppKeyTest : public ::testing::Test {
 protected:
  AppKeyTest() : h_(Credentials()) {}
  Harness h_;
};

TEST_F(AppKeyTest, AllowsHyphenSpelling) {
  Decision d = h_.Authorize(Md().Add("app-key", "billing").Add("app-secret", kAppSecret));
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "app:billing-svc");
  EXPECT_THAT(d.principal.roles, ElementsAre("kv.write"));
  EXPECT_EQ(d.principal.authenticators, kAppKey);
}

TEST_F(AppKeyTest, AllowsUnderscoreSpelling) {
  Decision d = h_.Authorize(Md().Add("app_key", "billing").Add("app_secret", kAppSecret));
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "app:billing-svc");
}

TEST_F(AppKeyTest, AllowsMixedSpellings) {
  Decision d = h_.Authorize(Md().Add("app-key", "billing").Add("app_secret", kAppSecret));
  EXPECT_TRUE(d.status.ok()) << d.status.error_message();
}

TEST_F(AppKeyTest, WrongSecretUnknownKeyAndDisabledKeyLookTheSame) {
  Decision wrong = h_.Authorize(Md().Add("app-key", "billing").Add("app-secret", kDisabledSecret));
  Decision unknown = h_.Authorize(Md().Add("app-key", "ghost").Add("app-secret", kAppSecret));
  Decision disabled =
      h_.Authorize(Md().Add("app-key", "retired").Add("app-secret", kDisabledSecret));
  for (const Decision* d : {&wrong, &unknown, &disabled}) {
    ExpectRefused(*d, "app_key: unknown key or wrong secret", Rejection::kAppKeyInvalid);
    ExpectNoSecret(*d, kAppSecret);
    ExpectNoSecret(*d, kDisabledSecret);
  }
  // The access log may tell them apart.
  EXPECT_THAT(wrong.detail, HasSubstr("wrong secret"));
  EXPECT_THAT(unknown.detail, HasSubstr("unknown"));
  EXPECT_THAT(disabled.detail, HasSubstr("disabled"));
}

TEST_F(AppKeyTest, SwappedKeyAndSecretNeverPutTheSecretInTheDecision) {
  for (auto [key_header, secret_header] :
       {std::pair{"app-key", "app-secret"}, std::pair{"app_key", "app_secret"}}) {
    Decision d = h_.Authorize(Md().Add(key_header, kAppSecret).Add(secret_header, "billing"));
    ExpectRefused(d, "app_key: unknown key or wrong secret", Rejection::kAppKeyInvalid);
    ExpectNoSecret(d, kAppSecret);
    // The unknown id is named by a short digest, so repeated attempts can still be matched.
    EXPECT_THAT(d.detail,
                HasSubstr("app key sha256:" + crypto::Sha256Hex(kAppSecret).substr(0, 12)));
  }
}

TEST_F(AppKeyTest, RejectsSecretDifferingOnlyInTheLastCharacter) {
  std::string almost = kAppSecret;
  almost.back() = 'x';
  ExpectRefused(h_.Authorize(Md().Add("app-key", "billing").Add("app-secret", almost)),
                "app_key: unknown key or wrong secret", Rejection::kAppKeyInvalid);
}

TEST_F(AppKeyTest, RejectsMissingSecret) {
  ExpectRefused(h_.Authorize(Md().Add("app-key", "billing")), "app_key: app-secret missing",
                Rejection::kMalformed);
}

TEST_F(AppKeyTest, RejectsMissingKey) {
  Decision d = h_.Authorize(Md().Add("app_secret", kAppSecret));
  ExpectRefused(d, "app_key: app-key missing", Rejection::kMalformed);
  ExpectNoSecret(d, kAppSecret);
}

TEST_F(AppKeyTest, RejectsOversizedValues) {
  ExpectRefused(h_.Authorize(Md().Add("app-key", std::string(129, 'k')).Add("app-secret", "s")),
                "app_key: value too long", Rejection::kMalformed);
  ExpectRefused(
      h_.Authorize(Md().Add("app-key", "billing").Add("app-secret", std::string(1025, 's'))),
      "app_key: value too long", Rejection::kMalformed);
}

// Both kinds together.

TEST(TokenAndAppKeyTest, TokenNamesThePrincipalAndAppKeyAddsItsVouch) {
  Harness h(Credentials());
  Decision d = h.Authorize(Md().Add("access-token", kAliceToken)
                               .Add("app-key", "billing")
                               .Add("app-secret", kAppSecret));
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.principal.ToString(), "user:alice");
  EXPECT_EQ(d.principal.authenticators, kToken | kAppKey);
}

TEST(TokenAndAppKeyTest, AnInvalidAppKeyFailsTheCallDespiteAGoodToken) {
  Harness h(Credentials());
  Decision d = h.Authorize(
      Md().Add("access-token", kAliceToken).Add("app-key", "billing").Add("app-secret", "wrong"));
  EXPECT_EQ(d.rejection, Rejection::kAppKeyInvalid);
}

TEST(TokenAndAppKeyTest, AllowedDecisionCarriesNoSecret) {
  Harness h(Credentials());
  Decision d = h.Authorize(Md().Add("access-token", kAliceToken)
                               .Add("app-key", "billing")
                               .Add("app-secret", kAppSecret));
  ASSERT_TRUE(d.status.ok());
  ExpectNoSecret(d, kAliceToken);
  ExpectNoSecret(d, kAppSecret);
}

}  // namespace
}  // namespace nodegate::auth
