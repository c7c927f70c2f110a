#include "auth/replay_cache.h"

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace nodegate::auth {
namespace {

const absl::Time kNow = absl::FromUnixMillis(1'767'225'600'000);
const absl::Time kExpiry = kNow + absl::Seconds(60);

std::unique_ptr<ReplayCache> NewCache(size_t capacity) {
  absl::StatusOr<std::unique_ptr<ReplayCache>> c = ReplayCache::New(capacity);
  EXPECT_TRUE(c.ok()) << c.status();
  return *std::move(c);
}

TEST(ReplayCacheTest, RefusesZeroCapacityNamingTheField) {
  absl::StatusOr<std::unique_ptr<ReplayCache>> c = ReplayCache::New(0);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "auth.signature.replay_cache_capacity: must be > 0");
}

TEST(ReplayCacheTest, AcceptsFirstSighting) {
  auto cache = NewCache(100);
  EXPECT_TRUE(cache->CheckAndInsert("node-a", "nonce-1", "d1", kExpiry, kNow).ok());
  EXPECT_EQ(cache->size(), 1u);
}

TEST(ReplayCacheTest, RejectsReplayedNonce) {
  auto cache = NewCache(100);
  ASSERT_TRUE(cache->CheckAndInsert("node-a", "nonce-1", "d1", kExpiry, kNow).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(
      cache->CheckAndInsert("node-a", "nonce-1", "d2", kExpiry, kNow + absl::Seconds(1))));
  EXPECT_EQ(cache->size(), 1u);
}

TEST(ReplayCacheTest, SameNonceFromAnotherNodeIsNotAReplay) {
  auto cache = NewCache(100);
  ASSERT_TRUE(cache->CheckAndInsert("node-a", "nonce-1", "d1", kExpiry, kNow).ok());
  EXPECT_TRUE(cache->CheckAndInsert("node-b", "nonce-1", "d1", kExpiry, kNow).ok());
}

TEST(ReplayCacheTest, ExpiryLetsTheSlotBeReused) {
  auto cache = NewCache(100);
  ASSERT_TRUE(cache->CheckAndInsert("node-a", "nonce-1", "d1", kExpiry, kNow).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(
      cache->CheckAndInsert("node-a", "nonce-1", "d1", kExpiry, kExpiry - absl::Milliseconds(1))));
  EXPECT_TRUE(
      cache->CheckAndInsert("node-a", "nonce-1", "d1", kExpiry + absl::Seconds(60), kExpiry).ok());
  EXPECT_EQ(cache->size(), 1u);
}

TEST(ReplayCacheTest, FullCacheFailsClosedWithResourceExhausted) {
  // 16 shards of one entry each: after 16 acceptances every shard is full, whatever the hashing.
  auto cache = NewCache(16);
  int accepted = 0;
  absl::Status last;
  for (int i = 0; i < 17 && last.ok(); ++i) {
    last = cache->CheckAndInsert("node-a", absl::StrCat("nonce-", i), "d", kExpiry, kNow);
    if (last.ok()) ++accepted;
  }
  EXPECT_TRUE(absl::IsResourceExhausted(last)) << last;
  EXPECT_LE(accepted, 16);
  EXPECT_LE(cache->size(), 16u);
}

TEST(ReplayCacheTest, FullCacheStillRecognisesReplays) {
  auto cache = NewCache(16);
  for (int i = 0; i < 17; ++i) {
    (void)cache->CheckAndInsert("node-a", absl::StrCat("nonce-", i), "d", kExpiry, kNow);
  }
  EXPECT_TRUE(
      absl::IsAlreadyExists(cache->CheckAndInsert("node-a", "nonce-0", "d", kExpiry, kNow)));
}

TEST(ReplayCacheTest, ExpiredEntriesAreSweptWhenFull) {
  auto cache = NewCache(16);
  std::string refused;
  for (int i = 0; i < 17 && refused.empty(); ++i) {
    std::string nonce = absl::StrCat("nonce-", i);
    if (absl::IsResourceExhausted(cache->CheckAndInsert("node-a", nonce, "d", kExpiry, kNow))) {
      refused = nonce;
    }
  }
  ASSERT_FALSE(refused.empty());
  EXPECT_TRUE(
      cache->CheckAndInsert("node-a", refused, "d", kExpiry + absl::Seconds(60), kExpiry).ok());
}

TEST(ReplayCacheTest, VerifiedOnlyForTheSignatureThatSpentTheNonce) {
  auto cache = NewCache(100);
  ASSERT_TRUE(cache->CheckAndInsert("node-a", "nonce-1", "digest-1", kExpiry, kNow).ok());
  EXPECT_TRUE(cache->Verified("node-a", "nonce-1", "digest-1", kNow));
  EXPECT_FALSE(cache->Verified("node-a", "nonce-1", "digest-2", kNow));
  EXPECT_FALSE(cache->Verified("node-b", "nonce-1", "digest-1", kNow));
  EXPECT_FALSE(cache->Verified("node-a", "nonce-2", "digest-1", kNow));
}

TEST(ReplayCacheTest, VerifiedEndsWhenTheEntryExpires) {
  auto cache = NewCache(100);
  ASSERT_TRUE(cache->CheckAndInsert("node-a", "nonce-1", "digest-1", kExpiry, kNow).ok());
  EXPECT_TRUE(cache->Verified("node-a", "nonce-1", "digest-1", kExpiry - absl::Milliseconds(1)));
  EXPECT_FALSE(cache->Verified("node-a", "nonce-1", "digest-1", kExpiry));
}

TEST(ReplayCacheTest, ConcurrentInsertsOfDistinctNoncesAllSucceedAndEachReplayIsRefused) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 2000;
  // Room to spare: shards fill unevenly, and this test is about concurrency, not capacity.
  auto cache = NewCache(4 * kThreads * kPerThread);
  std::vector<int> accepted(kThreads, 0);
  std::vector<int> refused(kThreads, 0);
  auto run = [&](int t, std::vector<int>& counter, bool expect_ok) {
    for (int i = 0; i < kPerThread; ++i) {
      absl::Status s = cache->CheckAndInsert(absl::StrCat("node-", t), absl::StrCat("nonce-", i),
                                             "d", kExpiry, kNow);
      if (expect_ok ? s.ok() : absl::IsAlreadyExists(s)) ++counter[t];
    }
  };
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(run, t, std::ref(accepted), true);
    for (auto& th : threads) th.join();
  }
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(run, t, std::ref(refused), false);
    for (auto& th : threads) th.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(accepted[t], kPerThread) << "thread " << t;
    EXPECT_EQ(refused[t], kPerThread) << "thread " << t;
  }
  EXPECT_EQ(cache->size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(ReplayCacheTest, ConcurrentInsertsOfOneNonceAcceptExactlyOne) {
  auto cache = NewCache(100);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      if (cache->CheckAndInsert("node-a", "nonce-1", "d", kExpiry, kNow).ok()) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 1);
}

}  // namespace
}  // namespace nodegate::auth
