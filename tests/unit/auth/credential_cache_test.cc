// CredentialCache: an immutable snapshot swapped when the source's generation moves; and
// StoreCredentialSource, which builds that snapshot from the real SQLite stores.
#include "auth/credential_cache.h"

#include <memory>
#include <string>

#include "auth/credential_admin.h"
#include "auth/store_credential_source.h"
#include "crypto/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/sqlite/sqlite_stores.h"
#include "testlib/auth.h"
#include "testlib/keys.h"
#include "testlib/manual_clock.h"
#include "testlib/status.h"
#include "testlib/stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::auth {
namespace {

using crypto::Algorithm;
using ::nodegate::testlib::Harness;
using ::nodegate::testlib::Keys;
using ::nodegate::testlib::kNow;
using ::nodegate::testlib::Md;
using ::nodegate::testlib::MemorySource;
using ::nodegate::testlib::Node;
using ::nodegate::testlib::SignCall;
using ::nodegate::testlib::SignerFor;
using ::nodegate::testlib::Token;
using ::nodegate::testlib::Unwrap;
using ::testing::ElementsAre;

CredentialSnapshot WithNode(std::string id) {
  CredentialSnapshot s;
  s.nodes.emplace(id, Node(id, Algorithm::kEd25519));
  return s;
}

// Over a MemorySource.

TEST(CredentialCacheTest, StartLoadsTheFirstSnapshot) {
  auto source = std::make_shared<MemorySource>();
  source->Set(WithNode("node-a"));
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration()));
  ASSERT_NE(cache->snapshot(), nullptr);
  EXPECT_TRUE(cache->snapshot()->nodes.contains("node-a"));
}

TEST(CredentialCacheTest, StartFailsWhenTheFirstLoadFails) {
  auto source = std::make_shared<MemorySource>();
  source->FailLoads(absl::UnavailableError("db down"));
  absl::StatusOr<std::unique_ptr<CredentialCache>> cache =
      CredentialCache::Start(source, absl::ZeroDuration());
  EXPECT_EQ(cache.status().code(), absl::StatusCode::kUnavailable);
}

TEST(CredentialCacheTest, RefreshWithoutAGenerationChangeDoesNotReload) {
  auto source = std::make_shared<MemorySource>();
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration()));
  const int loads = source->loads();
  auto before = cache->snapshot();
  ASSERT_TRUE(cache->Refresh().ok());
  EXPECT_EQ(source->loads(), loads);
  EXPECT_EQ(cache->snapshot(), before);
}

TEST(CredentialCacheTest, RefreshPicksUpANewGeneration) {
  auto source = std::make_shared<MemorySource>();
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration()));
  source->Set(WithNode("node-b"));
  EXPECT_FALSE(cache->snapshot()->nodes.contains("node-b"));  // not until refreshed
  ASSERT_TRUE(cache->Refresh().ok());
  EXPECT_TRUE(cache->snapshot()->nodes.contains("node-b"));
}

TEST(CredentialCacheTest, ForcedRefreshReloadsWhateverTheGeneration) {
  auto source = std::make_shared<MemorySource>();
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration()));
  const int loads = source->loads();
  ASSERT_TRUE(cache->Refresh(/*force=*/true).ok());
  EXPECT_EQ(source->loads(), loads + 1);
}

TEST(CredentialCacheTest, FailedReloadKeepsThePreviousSnapshot) {
  auto source = std::make_shared<MemorySource>();
  source->Set(WithNode("node-a"));
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration()));
  source->FailLoads(absl::UnavailableError("db down"));
  EXPECT_EQ(cache->Refresh().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(cache->snapshot()->nodes.contains("node-a"));
}

// Snapshot age: time since the source last confirmed the snapshot, on the cache's clock.

using ::nodegate::testlib::ManualClock;
using ::testing::HasSubstr;

constexpr absl::Duration kMaxAge = absl::Seconds(60);

TEST(CredentialCacheAgeTest, StartsAtZero) {
  ManualClock clock;
  auto cache = Unwrap(CredentialCache::Start(std::make_shared<MemorySource>(), absl::ZeroDuration(),
                                             clock, kMaxAge));
  EXPECT_EQ(cache->age(), absl::ZeroDuration());
  EXPECT_EQ(cache->max_age(), kMaxAge);
  EXPECT_TRUE(cache->CheckFresh().ok());
}

TEST(CredentialCacheAgeTest, GrowsWhileTheSourceCannotBeReadAndResetsOnSuccess) {
  ManualClock clock;
  auto source = std::make_shared<MemorySource>();
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration(), clock, kMaxAge));
  source->FailGenerations(absl::UnavailableError("store: postgres 127.0.0.1:5432: down"));

  clock.Advance(absl::Seconds(10));
  EXPECT_EQ(cache->Refresh().code(), absl::StatusCode::kUnavailable);
  clock.Advance(absl::Seconds(10));
  EXPECT_EQ(cache->Refresh().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cache->age(), absl::Seconds(20));

  source->FailGenerations(absl::OkStatus());
  ASSERT_TRUE(cache->Refresh().ok());
  EXPECT_EQ(cache->age(), absl::ZeroDuration());
}

TEST(CredentialCacheAgeTest, IsTimeSinceConfirmationNotSinceTheLastChange) {
  ManualClock clock;
  auto source = std::make_shared<MemorySource>();
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration(), clock, kMaxAge));
  const int loads = source->loads();
  clock.Advance(absl::Minutes(5));  // nothing changed for five minutes
  ASSERT_TRUE(cache->Refresh().ok());
  EXPECT_EQ(source->loads(), loads);  // confirmed without a reload
  EXPECT_EQ(cache->age(), absl::ZeroDuration());
}

TEST(CredentialCacheAgeTest, AFailedReloadDoesNotConfirm) {
  ManualClock clock;
  auto source = std::make_shared<MemorySource>();
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration(), clock, kMaxAge));
  source->FailLoads(absl::UnavailableError("db down"));  // the generation moves, the load fails
  clock.Advance(absl::Seconds(5));
  EXPECT_FALSE(cache->Refresh().ok());
  EXPECT_EQ(cache->age(), absl::Seconds(5));
}

TEST(CredentialCacheAgeTest, CheckFreshFailsPastTheBoundNamingTheAgeAndTheKnob) {
  ManualClock clock;
  auto source = std::make_shared<MemorySource>();
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration(), clock, kMaxAge));
  source->FailGenerations(absl::UnavailableError("down"));
  clock.Advance(kMaxAge);
  EXPECT_TRUE(cache->CheckFresh().ok());  // at the bound: still within it

  clock.Advance(absl::Seconds(13));
  absl::Status s = cache->CheckFresh();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("snapshot is 1m13s old"));
  EXPECT_THAT(s.message(), HasSubstr("auth.credential_max_age (1m)"));

  source->FailGenerations(absl::OkStatus());
  ASSERT_TRUE(cache->Refresh().ok());
  EXPECT_TRUE(cache->CheckFresh().ok());
}

TEST(CredentialCacheAgeTest, WithoutABoundNeverStale) {
  ManualClock clock;
  auto source = std::make_shared<MemorySource>();
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration(), clock));
  source->FailGenerations(absl::UnavailableError("down"));
  clock.Advance(absl::Hours(24 * 365));
  EXPECT_TRUE(cache->CheckFresh().ok());
}

TEST(CredentialCacheAgeTest, CountsRefreshesThatCouldNotReadTheSource) {
  ManualClock clock;
  auto source = std::make_shared<MemorySource>();
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration(), clock, kMaxAge));
  EXPECT_EQ(cache->refresh_failures(), 0u);
  source->FailGenerations(absl::UnavailableError("down"));
  (void)cache->Refresh();
  (void)cache->Refresh(/*force=*/true);
  EXPECT_EQ(cache->refresh_failures(), 2u);
}

TEST(CredentialCacheAgeTest, StartRefusesANonPositiveBound) {
  absl::StatusOr<std::unique_ptr<CredentialCache>> cache =
      CredentialCache::Start(std::make_shared<MemorySource>(), absl::ZeroDuration(),
                             base::Clock::Real(), absl::ZeroDuration());
  EXPECT_EQ(cache.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cache.status().message(), HasSubstr("auth.credential_max_age"));
}

TEST(CredentialCacheAgeTest, PollThreadRecoversByItselfOnTheFirstGoodPoll) {
  ManualClock clock;
  auto source = std::make_shared<MemorySource>();
  auto cache = Unwrap(CredentialCache::Start(source, absl::Seconds(1), clock, absl::Seconds(3)));
  clock.BlockUntilWaiting(1);
  source->FailGenerations(absl::UnavailableError("down"));
  for (int i = 0; i < 4; ++i) {
    clock.Advance(absl::Seconds(1));
    clock.BlockUntilWaiting(1);  // it polled (and failed), and waits for the next poll
  }
  EXPECT_EQ(cache->age(), absl::Seconds(4));
  EXPECT_EQ(cache->CheckFresh().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cache->refresh_failures(), 4u);

  source->FailGenerations(absl::OkStatus());
  clock.Advance(absl::Seconds(1));
  clock.BlockUntilWaiting(1);
  EXPECT_EQ(cache->age(), absl::ZeroDuration());
  EXPECT_TRUE(cache->CheckFresh().ok());
}

TEST(CredentialCacheTest, OldSnapshotStaysValidForItsHolder) {
  auto source = std::make_shared<MemorySource>();
  source->Set(WithNode("node-a"));
  auto cache = Unwrap(CredentialCache::Start(source, absl::ZeroDuration()));
  std::shared_ptr<const CredentialSnapshot> held = cache->snapshot();
  source->Set(WithNode("node-b"));
  ASSERT_TRUE(cache->Refresh().ok());
  EXPECT_TRUE(held->nodes.contains("node-a"));
  EXPECT_FALSE(cache->snapshot()->nodes.contains("node-a"));
}

TEST(CredentialCacheTest, DisablingANodeTakesEffectOnRefresh) {
  CredentialSnapshot s = WithNode("node-a");
  Harness h(s);
  ASSERT_TRUE(h.Authorize(SignCall(*SignerFor(Algorithm::kEd25519), "node-a").ToMd()).status.ok());
  s.nodes["node-a"].enabled = false;
  h.source().Set(s);
  ASSERT_TRUE(h.cache().Refresh().ok());
  EXPECT_EQ(h.Authorize(SignCall(*SignerFor(Algorithm::kEd25519), "node-a").ToMd()).rejection,
            Rejection::kSignatureNodeDisabled);
}

// Over the real SQLite stores.

class StoreSourceTest : public ::testing::Test {
 protected:
  ::nodegate::testlib::ScopedTempDir dir_;  // first: removed after the stores close
  void SetUp() override {
    stores_ = ::nodegate::testlib::OpenStores(dir_);
    nodes_ = std::move(stores_.nodes);
    credentials_ = std::move(stores_.credentials);
    source_ = std::make_shared<StoreCredentialSource>(nodes_, credentials_);
  }
  void Register(const std::string& id, Algorithm alg, const std::vector<std::string>& roles = {}) {
    ASSERT_TRUE(RegisterNode(*nodes_, id, std::string(crypto::AlgorithmName(alg)),
                             Keys(alg).public_key_pem, roles)
                    .ok());
  }

  store::Stores stores_;
  std::shared_ptr<store::NodeStore> nodes_;
  std::shared_ptr<store::CredentialStore> credentials_;
  std::shared_ptr<StoreCredentialSource> source_;
};

TEST_F(StoreSourceTest, LoadsNodesWithParsedVerifiers) {
  Register("node-a", Algorithm::kSm2Sm3, {"worker"});
  CredentialSnapshot s = Unwrap(source_->Load());
  ASSERT_TRUE(s.nodes.contains("node-a"));
  const NodeCredential& n = s.nodes.at("node-a");
  EXPECT_TRUE(n.enabled);
  EXPECT_THAT(n.roles, ElementsAre("worker"));
  ASSERT_NE(n.verifier, nullptr);
  EXPECT_EQ(n.previous_verifier, nullptr);
}

TEST_F(StoreSourceTest, KeepsADisabledNodeAsDisabled) {
  Register("node-a", Algorithm::kEd25519);
  ASSERT_TRUE(nodes_->SetEnabled("node-a", false).ok());
  CredentialSnapshot s = Unwrap(source_->Load());
  ASSERT_TRUE(s.nodes.contains("node-a"));
  EXPECT_FALSE(s.nodes.at("node-a").enabled);
}

TEST_F(StoreSourceTest, KeepsANodeWhoseStoredKeyIsUnusableButWithoutAVerifier) {
  store::NodeRecord r;
  r.id = "node-bad";
  r.algorithm = "ed25519";
  r.public_key_pem = "not a key";
  ASSERT_TRUE(nodes_->Create(r).ok());
  CredentialSnapshot s = Unwrap(source_->Load());
  ASSERT_TRUE(s.nodes.contains("node-bad"));
  EXPECT_EQ(s.nodes.at("node-bad").verifier, nullptr);
}

TEST_F(StoreSourceTest, LoadsThePreviousKeyDuringARotationGrace) {
  Register("node-a", Algorithm::kEd25519);
  const absl::Time grace = absl::Now() + absl::Hours(1);
  ASSERT_TRUE(nodes_
                  ->RotateKey("node-a", "ecdsa-p256-sha256",
                              Keys(Algorithm::kEcdsaP256Sha256).public_key_pem, grace)
                  .ok());
  const NodeCredential n = Unwrap(source_->Load()).nodes.at("node-a");
  EXPECT_NE(n.verifier, nullptr);
  ASSERT_NE(n.previous_verifier, nullptr);
  EXPECT_EQ(absl::ToUnixSeconds(n.previous_valid_until), absl::ToUnixSeconds(grace));
}

TEST_F(StoreSourceTest, DropsAPreviousKeyWhoseGraceHasEnded) {
  Register("node-a", Algorithm::kEd25519);
  ASSERT_TRUE(nodes_
                  ->RotateKey("node-a", "ecdsa-p256-sha256",
                              Keys(Algorithm::kEcdsaP256Sha256).public_key_pem,
                              absl::Now() - absl::Seconds(1))
                  .ok());
  EXPECT_EQ(Unwrap(source_->Load()).nodes.at("node-a").previous_verifier, nullptr);
}

TEST_F(StoreSourceTest, LoadsTokensAndAppKeysByRawHash) {
  IssuedToken t =
      Unwrap(IssueAccessToken(*credentials_, "alice", "user", {"reader"}, absl::ZeroDuration()));
  IssuedAppKey k = Unwrap(IssueAppKey(*credentials_, "billing", "billing-svc", {"kv.write"}));
  CredentialSnapshot s = Unwrap(source_->Load());
  ASSERT_TRUE(s.tokens.contains(crypto::Sha256(t.token)));
  const TokenCredential& tc = s.tokens.at(crypto::Sha256(t.token));
  EXPECT_EQ(tc.principal, "alice");
  EXPECT_EQ(tc.kind, Principal::Kind::kUser);
  EXPECT_EQ(tc.expires_at, absl::InfiniteFuture());
  ASSERT_TRUE(s.apps.contains("billing"));
  EXPECT_EQ(s.apps.at("billing").secret_hash, crypto::Sha256(k.app_secret));
}

TEST_F(StoreSourceTest, GenerationMovesOnEveryKindOfWrite) {
  uint64_t g0 = source_->Generation().value();
  Register("node-a", Algorithm::kEd25519);
  uint64_t g1 = source_->Generation().value();
  EXPECT_NE(g1, g0);
  ASSERT_TRUE(IssueAccessToken(*credentials_, "alice", "user", {}, absl::ZeroDuration()).ok());
  EXPECT_NE(source_->Generation().value(), g1);
}

TEST_F(StoreSourceTest, RefreshPicksUpAStoreWrite) {
  auto cache = Unwrap(CredentialCache::Start(source_, absl::ZeroDuration()));
  IssuedToken t =
      Unwrap(IssueAccessToken(*credentials_, "alice", "user", {}, absl::ZeroDuration()));
  EXPECT_FALSE(cache->snapshot()->tokens.contains(crypto::Sha256(t.token)));
  ASSERT_TRUE(cache->Refresh().ok());
  EXPECT_TRUE(cache->snapshot()->tokens.contains(crypto::Sha256(t.token)));
}

TEST_F(StoreSourceTest, RefreshWithoutAWriteKeepsTheSnapshot) {
  Register("node-a", Algorithm::kEd25519);
  auto cache = Unwrap(CredentialCache::Start(source_, absl::ZeroDuration()));
  auto before = cache->snapshot();
  ASSERT_TRUE(cache->Refresh().ok());
  EXPECT_EQ(cache->snapshot(), before);
}

TEST_F(StoreSourceTest, BackgroundPollPicksUpAStoreWriteAtTheNextPollNotBefore) {
  ::nodegate::testlib::ManualClock clock;
  auto cache = Unwrap(CredentialCache::Start(source_, absl::Milliseconds(20), clock));
  clock.BlockUntilWaiting(1);  // the poll thread waits for its first poll
  Register("node-late", Algorithm::kEd25519);

  clock.Advance(absl::Milliseconds(19));
  clock.BlockUntilWaiting(1);
  EXPECT_FALSE(cache->snapshot()->nodes.contains("node-late"));

  clock.Advance(absl::Milliseconds(1));
  clock.BlockUntilWaiting(1);  // it polled, and waits for the next poll
  EXPECT_TRUE(cache->snapshot()->nodes.contains("node-late"));
  EXPECT_EQ(clock.waits_started(), 2);
}

TEST_F(StoreSourceTest, DestroyingACacheStopsItsPollThreadWithoutWaitingForThePoll) {
  ::nodegate::testlib::ManualClock clock;  // never advanced: the poll never falls due
  auto cache = Unwrap(CredentialCache::Start(source_, absl::Hours(1), clock));
  clock.BlockUntilWaiting(1);

  cache.reset();  // joins the poll thread: returns only because the stop ends its wait

  EXPECT_EQ(clock.waits_started(), 1);
}

TEST_F(StoreSourceTest, SignedCallFromAStoreRegisteredNodeIsAllowed) {
  Register("node-a", Algorithm::kSm2Sm3, {"worker"});
  auto cache = Unwrap(CredentialCache::Start(source_, absl::ZeroDuration()));
  AuthorizerOptions o = Harness::DefaultOptions();
  auto authorizer = Unwrap(Authorizer::New(o, Unwrap(Policy::Build({}, {})), cache.get()));
  Md md = SignCall(*SignerFor(Algorithm::kSm2Sm3), "node-a").ToMd();
  Decision d = authorizer->Authorize(::nodegate::testlib::kMethod, md.view(), {}, kNow);
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "node:node-a");
}

}  // namespace
}  // namespace nodegate::auth
