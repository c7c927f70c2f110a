// Issuing credentials: generated secrets, stored only as hashes, that the Authorizer accepts.
#include "auth/credential_admin.h"

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "auth/store_credential_source.h"
#include "crypto/digest.h"
#include "crypto/encoding.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/sqlite/sqlite_stores.h"
#include "testlib/auth.h"
#include "testlib/keys.h"
#include "testlib/status.h"
#include "testlib/stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::auth {
namespace {

using crypto::Algorithm;
using ::nodegate::testlib::Harness;
using ::nodegate::testlib::Keys;
using ::nodegate::testlib::kMethod;
using ::nodegate::testlib::Md;
using ::nodegate::testlib::Unwrap;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

class CredentialAdminTest : public ::testing::Test {
 protected:
  ::nodegate::testlib::ScopedTempDir dir_;  // first: removed after the stores close
  void SetUp() override {
    stores_ = ::nodegate::testlib::OpenStores(dir_);
    nodes_ = std::move(stores_.nodes);
    credentials_ = std::move(stores_.credentials);
    cache_ = Unwrap(CredentialCache::Start(
        std::make_shared<StoreCredentialSource>(nodes_, credentials_), absl::ZeroDuration()));
    authorizer_ = Unwrap(
        Authorizer::New(Harness::DefaultOptions(), Unwrap(Policy::Build({}, {})), cache_.get()));
  }
  Decision Authorize(const Md& md) {
    EXPECT_TRUE(cache_->Refresh().ok());
    return authorizer_->Authorize(kMethod, md.view(), {}, absl::Now());
  }

  store::Stores stores_;
  std::shared_ptr<store::NodeStore> nodes_;
  std::shared_ptr<store::CredentialStore> credentials_;
  std::unique_ptr<CredentialCache> cache_;
  std::unique_ptr<Authorizer> authorizer_;
};

// Tokens.

TEST_F(CredentialAdminTest, IssuedTokenAuthenticates) {
  IssuedToken t =
      Unwrap(IssueAccessToken(*credentials_, "alice", "user", {"reader"}, absl::Hours(1)));
  Decision d = Authorize(Md().Add("authorization", "Bearer " + t.token));
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "user:alice");
  EXPECT_THAT(d.principal.roles, ElementsAre("reader"));
}

TEST_F(CredentialAdminTest, TokenIsPrefixedAndCarries256RandomBits) {
  IssuedToken t =
      Unwrap(IssueAccessToken(*credentials_, "alice", "user", {}, absl::ZeroDuration()));
  EXPECT_THAT(t.token, MatchesRegex("ngt_[A-Za-z0-9_-]{43}"));
  IssuedToken u =
      Unwrap(IssueAccessToken(*credentials_, "alice", "user", {}, absl::ZeroDuration()));
  EXPECT_NE(t.token, u.token);
}

TEST_F(CredentialAdminTest, StoresOnlyTheSha256HexOfTheToken) {
  IssuedToken t =
      Unwrap(IssueAccessToken(*credentials_, "alice", "user", {}, absl::ZeroDuration()));
  EXPECT_EQ(t.record.token_hash, crypto::Sha256Hex(t.token));
  store::AccessToken stored =
      Unwrap(credentials_->FindAccessTokenByHash(crypto::Sha256Hex(t.token)));
  EXPECT_EQ(stored.token_hash, crypto::Sha256Hex(t.token));
  for (const store::AccessToken& a : Unwrap(credentials_->ListAccessTokens())) {
    EXPECT_THAT(a.token_hash, ::testing::Not(HasSubstr(t.token)));
    EXPECT_THAT(a.principal, ::testing::Not(HasSubstr(t.token)));
  }
}

TEST_F(CredentialAdminTest, ZeroTtlNeverExpires) {
  IssuedToken t =
      Unwrap(IssueAccessToken(*credentials_, "alice", "user", {}, absl::ZeroDuration()));
  EXPECT_EQ(t.record.expires_at, absl::InfiniteFuture());
}

TEST_F(CredentialAdminTest, TtlSetsTheExpiry) {
  const absl::Time before = absl::Now();
  IssuedToken t = Unwrap(IssueAccessToken(*credentials_, "alice", "user", {}, absl::Hours(24)));
  EXPECT_GE(t.record.expires_at, before + absl::Hours(24) - absl::Seconds(1));
  EXPECT_LE(t.record.expires_at, absl::Now() + absl::Hours(24) + absl::Seconds(1));
}

TEST_F(CredentialAdminTest, RefusesANegativeTtl) {
  EXPECT_EQ(IssueAccessToken(*credentials_, "alice", "user", {}, -absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CredentialAdminTest, RevokedTokenIsRefused) {
  IssuedToken t =
      Unwrap(IssueAccessToken(*credentials_, "alice", "user", {}, absl::ZeroDuration()));
  ASSERT_TRUE(credentials_->RevokeAccessToken(t.record.token_hash).ok());
  EXPECT_EQ(Authorize(Md().Add("access-token", t.token)).rejection, Rejection::kTokenInvalid);
}

// App keys.

TEST_F(CredentialAdminTest, IssuedAppKeyAuthenticates) {
  IssuedAppKey k = Unwrap(IssueAppKey(*credentials_, "billing", "billing-svc", {"kv.write"}));
  EXPECT_EQ(k.app_key, "billing");
  Decision d = Authorize(Md().Add("app_key", k.app_key).Add("app_secret", k.app_secret));
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "app:billing-svc");
}

TEST_F(CredentialAdminTest, StoresOnlyTheSha256HexOfTheAppSecret) {
  IssuedAppKey k = Unwrap(IssueAppKey(*credentials_, "billing", "billing-svc", {}));
  EXPECT_THAT(k.app_secret, MatchesRegex("ngs_[A-Za-z0-9_-]{43}"));
  EXPECT_EQ(Unwrap(credentials_->GetAppKey("billing")).secret_hash,
            crypto::Sha256Hex(k.app_secret));
}

TEST_F(CredentialAdminTest, EmptyAppKeyGetsARandomId) {
  IssuedAppKey k = Unwrap(IssueAppKey(*credentials_, "", "billing-svc", {}));
  EXPECT_THAT(k.app_key, StartsWith("ngk_"));
  EXPECT_TRUE(
      Authorize(Md().Add("app-key", k.app_key).Add("app-secret", k.app_secret)).status.ok());
}

TEST_F(CredentialAdminTest, DisabledAppKeyIsRefused) {
  IssuedAppKey k = Unwrap(IssueAppKey(*credentials_, "billing", "billing-svc", {}));
  ASSERT_TRUE(credentials_->DisableAppKey("billing").ok());
  EXPECT_EQ(Authorize(Md().Add("app-key", k.app_key).Add("app-secret", k.app_secret)).rejection,
            Rejection::kAppKeyInvalid);
}

// Nodes.

TEST_F(CredentialAdminTest, RegisterNodeStoresTheKeyAndAlgorithm) {
  store::NodeRecord r = Unwrap(RegisterNode(*nodes_, "node-a", "ed25519",
                                            Keys(Algorithm::kEd25519).public_key_pem, {"worker"}));
  EXPECT_EQ(r.algorithm, "ed25519");
  EXPECT_TRUE(r.enabled);
  EXPECT_EQ(Unwrap(nodes_->Get("node-a")).public_key_pem, Keys(Algorithm::kEd25519).public_key_pem);
}

TEST_F(CredentialAdminTest, RegisterNodeRefusesAKeyOfAnotherAlgorithm) {
  absl::StatusOr<store::NodeRecord> r = RegisterNode(
      *nodes_, "node-a", "ed25519", Keys(Algorithm::kEcdsaP256Sha256).public_key_pem, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nodes_->Get("node-a").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CredentialAdminTest, RegisterNodeRefusesAnSm2KeyDeclaredAsEcdsa) {
  EXPECT_FALSE(RegisterNode(*nodes_, "node-a", "ecdsa-p256-sha256",
                            Keys(Algorithm::kSm2Sm3).public_key_pem, {})
                   .ok());
}

TEST_F(CredentialAdminTest, RegisterNodeRefusesAnUnknownAlgorithm) {
  EXPECT_EQ(RegisterNode(*nodes_, "node-a", "rsa", Keys(Algorithm::kEd25519).public_key_pem, {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CredentialAdminTest, RegisterNodeRefusesAPrivateKey) {
  EXPECT_FALSE(
      RegisterNode(*nodes_, "node-a", "ed25519", Keys(Algorithm::kEd25519).private_key_pem, {})
          .ok());
}

// Join tokens and secrets.

TEST_F(CredentialAdminTest, JoinTokenMustExpireWithinThirtyDays) {
  EXPECT_FALSE(IssueJoinToken(*credentials_, "node-b", {}, absl::ZeroDuration()).ok());
  EXPECT_FALSE(IssueJoinToken(*credentials_, "node-b", {}, absl::Hours(24 * 31)).ok());
  IssuedJoinToken j = Unwrap(IssueJoinToken(*credentials_, "node-b", {}, absl::Hours(1)));
  EXPECT_THAT(j.token, StartsWith("ngj_"));
  EXPECT_EQ(j.record.token_hash, crypto::Sha256Hex(j.token));
}

TEST(NewSecretTest, IsThePrefixAndBase64UrlOfTheRequestedBytes) {
  EXPECT_THAT(Unwrap(NewSecret("x_", 12)), MatchesRegex("x_[A-Za-z0-9_-]{16}"));
  EXPECT_NE(Unwrap(NewSecret("x_")), Unwrap(NewSecret("x_")));
}

}  // namespace
}  // namespace nodegate::auth
