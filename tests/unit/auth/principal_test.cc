#include "auth/principal.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nodegate::auth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(AuthenticatorTest, ParsesEachWireName) {
  EXPECT_EQ(*ParseAuthenticator("mtls"), kMtls);
  EXPECT_EQ(*ParseAuthenticator("signature"), kSignature);
  EXPECT_EQ(*ParseAuthenticator("token"), kToken);
  EXPECT_EQ(*ParseAuthenticator("app_key"), kAppKey);
}

TEST(AuthenticatorTest, RefusesUnknownNameAndListsValidOnes) {
  absl::StatusOr<uint32_t> a = ParseAuthenticator("app-key");
  ASSERT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("mtls, signature, token, app_key"));
}

TEST(AuthenticatorTest, NamesASetInFixedOrder) {
  EXPECT_EQ(AuthenticatorNames(kAppKey | kMtls), "mtls,app_key");
  EXPECT_EQ(AuthenticatorNames(0), "");
  EXPECT_THAT(AuthenticatorList(kAllAuthenticators),
              ElementsAre("mtls", "signature", "token", "app_key"));
}

TEST(PrincipalTest, UnauthenticatedByDefaultAndPrintsEmpty) {
  Principal p;
  EXPECT_FALSE(p.authenticated());
  EXPECT_EQ(p.ToString(), "");
}

TEST(PrincipalTest, PrintsKindAndId) {
  EXPECT_EQ((Principal{Principal::Kind::kNode, "dev-client", {}, kMtls}).ToString(),
            "node:dev-client");
  EXPECT_EQ((Principal{Principal::Kind::kUser, "alice", {}, kToken}).ToString(), "user:alice");
  EXPECT_EQ((Principal{Principal::Kind::kApp, "billing", {}, kAppKey}).ToString(), "app:billing");
}

TEST(PrincipalTest, HasAnyRoleNeedsOneOfTheWanted) {
  Principal p{Principal::Kind::kUser, "alice", {"reader", "ops"}, kToken};
  EXPECT_TRUE(p.HasAnyRole({"admin", "ops"}));
  EXPECT_FALSE(p.HasAnyRole({"admin"}));
  EXPECT_FALSE(p.HasAnyRole({}));
}

TEST(KindTest, RoundTripsWireNamesAndRefusesOthers) {
  for (auto k : {Principal::Kind::kNode, Principal::Kind::kUser, Principal::Kind::kApp}) {
    EXPECT_EQ(*ParseKind(KindName(k)), k);
  }
  EXPECT_EQ(ParseKind("none").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseKind("User").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nodegate::auth
