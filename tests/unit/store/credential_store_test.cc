#include "store/credential_store.h"

#include <atomic>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/postgres/postgres_stores.h"
#include "store/sqlite/sqlite_credential_store.h"
#include "testlib/store_backends.h"
#include "testlib/stores.h"

namespace nodegate::store {
namespace {

using ::nodegate::testlib::Hash;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

AccessToken Token(char seed) {
  AccessToken t;
  t.token_hash = Hash(seed);
  t.principal = "alice";
  t.kind = "user";
  t.roles = {"reader"};
  return t;
}

AppKey App(std::string id) {
  AppKey k;
  k.app_key = std::move(id);
  k.secret_hash = Hash('5');
  k.principal = "billing";
  k.roles = {"kv.write"};
  return k;
}

JoinToken Join(char seed, absl::Time expires_at = kNow + absl::Hours(1)) {
  JoinToken t;
  t.token_hash = Hash(seed);
  t.node_id = "node-b";
  t.roles = {"worker"};
  t.expires_at = expires_at;
  return t;
}

// Every case runs on SQLite and on PostgreSQL (testlib/store_backends.h).
class CredentialStoreTest : public ::nodegate::testlib::StoreBackendTest {
 protected:
  void SetUp() override {
    StoreBackendTest::SetUp();
    if (HasFatalFailure()) return;
    store_ = Open().credentials;
  }
  std::unique_ptr<CredentialStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, CredentialStoreTest, ::nodegate::testlib::AllStoreBackends(),
                         ::nodegate::testlib::StoreBackendName);

// Access tokens.

TEST_P(CredentialStoreTest, AccessTokenFoundByHash) {
  ASSERT_TRUE(store_->CreateAccessToken(Token('1')).ok());
  absl::StatusOr<AccessToken> got = store_->FindAccessTokenByHash(Hash('1'));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->principal, "alice");
  EXPECT_EQ(got->kind, "user");
  EXPECT_THAT(got->roles, ElementsAre("reader"));
  EXPECT_EQ(got->expires_at, absl::InfiniteFuture());
  EXPECT_NE(got->created_at, absl::InfinitePast());
}

TEST_P(CredentialStoreTest, AccessTokenKeepsFiniteExpiry) {
  AccessToken t = Token('1');
  t.expires_at = kNow;
  ASSERT_TRUE(store_->CreateAccessToken(t).ok());
  EXPECT_EQ(store_->FindAccessTokenByHash(Hash('1'))->expires_at, kNow);
}

TEST_P(CredentialStoreTest, UnknownAccessTokenIsNotFound) {
  EXPECT_EQ(store_->FindAccessTokenByHash(Hash('9')).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CredentialStoreTest, DuplicateAccessTokenIsAlreadyExists) {
  ASSERT_TRUE(store_->CreateAccessToken(Token('1')).ok());
  EXPECT_EQ(store_->CreateAccessToken(Token('1')).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(CredentialStoreTest, AccessTokenRejectsBadInput) {
  AccessToken upper = Token('1');
  upper.token_hash = std::string(64, 'A');
  AccessToken short_hash = Token('1');
  short_hash.token_hash = "abc";
  AccessToken bad_kind = Token('1');
  bad_kind.kind = "robot";
  AccessToken no_principal = Token('1');
  no_principal.principal.clear();
  AccessToken control = Token('1');
  control.principal = "a\nb";
  for (const AccessToken& t : {upper, short_hash, bad_kind, no_principal, control}) {
    EXPECT_EQ(store_->CreateAccessToken(t).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(store_->FindAccessTokenByHash("plain-token").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CredentialStoreTest, ErrorsNeverEchoTheHash) {
  std::string not_a_hash = "secret-token-value-pasted-by-mistake";
  absl::Status s = store_->FindAccessTokenByHash(not_a_hash).status();
  EXPECT_EQ(s.message().find(not_a_hash), std::string::npos) << s;
}

TEST_P(CredentialStoreTest, RevokedAccessTokenIsGone) {
  ASSERT_TRUE(store_->CreateAccessToken(Token('1')).ok());
  ASSERT_TRUE(store_->RevokeAccessToken(Hash('1')).ok());
  EXPECT_EQ(store_->FindAccessTokenByHash(Hash('1')).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CredentialStoreTest, RevokeUnknownAccessTokenIsNotFound) {
  EXPECT_EQ(store_->RevokeAccessToken(Hash('1')).code(), absl::StatusCode::kNotFound);
}

TEST_P(CredentialStoreTest, ListAccessTokensShowsAll) {
  ASSERT_TRUE(store_->CreateAccessToken(Token('1')).ok());
  ASSERT_TRUE(store_->CreateAccessToken(Token('2')).ok());
  absl::StatusOr<std::vector<AccessToken>> all = store_->ListAccessTokens();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
}

// App keys.

TEST_P(CredentialStoreTest, AppKeyRoundTrips) {
  ASSERT_TRUE(store_->CreateAppKey(App("app-1")).ok());
  absl::StatusOr<AppKey> got = store_->GetAppKey("app-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->secret_hash, Hash('5'));
  EXPECT_EQ(got->principal, "billing");
  EXPECT_THAT(got->roles, ElementsAre("kv.write"));
  EXPECT_TRUE(got->enabled);
}

TEST_P(CredentialStoreTest, DuplicateAppKeyIsAlreadyExists) {
  ASSERT_TRUE(store_->CreateAppKey(App("app-1")).ok());
  EXPECT_EQ(store_->CreateAppKey(App("app-1")).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_P(CredentialStoreTest, AppKeyRejectsBadInput) {
  AppKey bad_id = App("has space");
  AppKey bad_hash = App("app");
  bad_hash.secret_hash = "plaintext";
  EXPECT_EQ(store_->CreateAppKey(bad_id).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateAppKey(bad_hash).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(CredentialStoreTest, UnknownAppKeyIsNotFound) {
  EXPECT_EQ(store_->GetAppKey("app-x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DisableAppKey("app-x").code(), absl::StatusCode::kNotFound);
}

TEST_P(CredentialStoreTest, DisabledAppKeyStaysListedButDisabled) {
  ASSERT_TRUE(store_->CreateAppKey(App("app-1")).ok());
  ASSERT_TRUE(store_->DisableAppKey("app-1").ok());
  EXPECT_FALSE(store_->GetAppKey("app-1")->enabled);
  absl::StatusOr<std::vector<AppKey>> all = store_->ListAppKeys();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_FALSE((*all)[0].enabled);
}

TEST_P(CredentialStoreTest, ListAppKeysIsOrderedByKey) {
  ASSERT_TRUE(store_->CreateAppKey(App("b")).ok());
  ASSERT_TRUE(store_->CreateAppKey(App("a")).ok());
  std::vector<AppKey> all = *store_->ListAppKeys();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].app_key, "a");
  EXPECT_EQ(all[1].app_key, "b");
}

// Join tokens.

TEST_P(CredentialStoreTest, JoinTokenConsumedOnceReturnsItsNodeAndRoles) {
  ASSERT_TRUE(store_->CreateJoinToken(Join('1')).ok());

  absl::StatusOr<JoinToken> used = store_->ConsumeJoinToken(Hash('1'), kNow);

  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(used->node_id, "node-b");
  EXPECT_THAT(used->roles, ElementsAre("worker"));
  EXPECT_EQ(used->used_at, kNow);
}

TEST_P(CredentialStoreTest, JoinTokenSecondUseIsFailedPrecondition) {
  ASSERT_TRUE(store_->CreateJoinToken(Join('1')).ok());
  ASSERT_TRUE(store_->ConsumeJoinToken(Hash('1'), kNow).ok());
  absl::Status again = store_->ConsumeJoinToken(Hash('1'), kNow).status();
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.message().find("used"), std::string::npos);
}

TEST_P(CredentialStoreTest, ExpiredJoinTokenIsFailedPreconditionAndStaysUnused) {
  ASSERT_TRUE(store_->CreateJoinToken(Join('1', kNow)).ok());

  absl::Status s = store_->ConsumeJoinToken(Hash('1'), kNow).status();

  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("expired"), std::string::npos);
  std::vector<JoinToken> all = *store_->ListJoinTokens();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].used_at, absl::InfinitePast());
}

TEST_P(CredentialStoreTest, JoinTokenUsableJustBeforeExpiry) {
  ASSERT_TRUE(store_->CreateJoinToken(Join('1', kNow)).ok());
  EXPECT_TRUE(store_->ConsumeJoinToken(Hash('1'), kNow - absl::Microseconds(1)).ok());
}

TEST_P(CredentialStoreTest, UnknownJoinTokenIsNotFound) {
  EXPECT_EQ(store_->ConsumeJoinToken(Hash('7'), kNow).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CredentialStoreTest, JoinTokenMustExpire) {
  EXPECT_EQ(store_->CreateJoinToken(Join('1', absl::InfiniteFuture())).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateJoinToken(Join('1', absl::InfinitePast())).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CredentialStoreTest, JoinTokenRejectsBadNodeIdAndDuplicate) {
  JoinToken bad = Join('1');
  bad.node_id = "bad id";
  EXPECT_EQ(store_->CreateJoinToken(bad).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->CreateJoinToken(Join('1')).ok());
  EXPECT_EQ(store_->CreateJoinToken(Join('1')).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_P(CredentialStoreTest, RacingConsumersOfOneJoinTokenHaveOneWinner) {
  ASSERT_TRUE(store_->CreateJoinToken(Join('1')).ok());
  // A second instance on the same database stands in for another process or replica.
  std::unique_ptr<CredentialStore> other = Open().credentials;
  std::atomic<int> wins{0}, refused{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      CredentialStore& s = i % 2 == 0 ? *store_ : *other;
      absl::Status r = s.ConsumeJoinToken(Hash('1'), kNow).status();
      if (r.ok()) ++wins;
      if (r.code() == absl::StatusCode::kFailedPrecondition) ++refused;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(refused.load(), 7);
}

TEST_P(CredentialStoreTest, GenerationGrowsOnEveryCredentialWrite) {
  uint64_t g0 = store_->Generation().value();
  ASSERT_TRUE(store_->CreateAccessToken(Token('1')).ok());
  uint64_t g1 = store_->Generation().value();
  ASSERT_TRUE(store_->CreateAppKey(App("a")).ok());
  uint64_t g2 = store_->Generation().value();
  ASSERT_TRUE(store_->DisableAppKey("a").ok());
  uint64_t g3 = store_->Generation().value();
  ASSERT_TRUE(store_->RevokeAccessToken(Hash('1')).ok());
  uint64_t g4 = store_->Generation().value();
  EXPECT_LT(g0, g1);  // grows: the CLI waits for a node to reach it
  EXPECT_LT(g1, g2);
  EXPECT_LT(g2, g3);
  EXPECT_LT(g3, g4);
}

TEST_P(CredentialStoreTest, CredentialsSurviveReopen) {
  ASSERT_TRUE(store_->CreateAccessToken(Token('1')).ok());
  ASSERT_TRUE(store_->CreateAppKey(App("a")).ok());
  ASSERT_TRUE(store_->CreateJoinToken(Join('2')).ok());
  store_.reset();

  std::unique_ptr<CredentialStore> reopened = Open().credentials;

  EXPECT_TRUE(reopened->FindAccessTokenByHash(Hash('1')).ok());
  EXPECT_TRUE(reopened->GetAppKey("a").ok());
  EXPECT_TRUE(reopened->ConsumeJoinToken(Hash('2'), kNow).ok());
}

TEST_P(CredentialStoreTest, RevocationThroughOneInstanceIsSeenAndCountedByAnother) {
  std::unique_ptr<CredentialStore> other = Open().credentials;
  ASSERT_TRUE(store_->CreateAccessToken(Token('1')).ok());
  ASSERT_TRUE(other->FindAccessTokenByHash(Hash('1')).ok());
  uint64_t before = other->Generation().value();

  ASSERT_TRUE(store_->RevokeAccessToken(Hash('1')).ok());

  EXPECT_EQ(other->FindAccessTokenByHash(Hash('1')).status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(other->Generation().value(), before);
}

TEST(CredentialStoreFactoryTest, RefusesNullDatabase) {
  EXPECT_EQ(OpenSqliteCredentialStore(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenPostgresCredentialStore(nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CredentialStoreTest, PrincipalKeepsBytesThatAreNotUtf8) {
  AccessToken t = Token('1');
  t.principal = "caf\xe9";  // Latin-1: no control characters, so valid here
  AppKey k = App("a");
  k.principal = "\xff\xfe";
  ASSERT_TRUE(store_->CreateAccessToken(t).ok());
  ASSERT_TRUE(store_->CreateAppKey(k).ok());
  EXPECT_EQ(store_->FindAccessTokenByHash(Hash('1'))->principal, t.principal);
  EXPECT_EQ(store_->GetAppKey("a")->principal, k.principal);
}

}  // namespace
}  // namespace nodegate::store
