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
  EXPECT_TRUE(cache->CheckAndInsert("node-a", "nonce-1", kExpiry, kNow).ok());
  EXPECT_EQ(cache->size(), 1u);
}

TEST(ReplayCacheTest, RejectsReplayedNonce) {
  auto cache = NewCache(100);
  ASSERT_TRUE(cache->CheckAndInsert("node-a", "nonce-1", kExpiry, kNow).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(
      cache->CheckAndInsert("node-a", "nonce-1", kExpiry, kNow + absl::Seconds(1))));
  EXPECT_EQ(cache->size(), 1u);
}

TEST(ReplayCacheTest, SameNonceFromAnotherNodeIsNotAReplay) {
  auto cache = NewCache(100);
  ASSERT_TRUE(cache->CheckAndInsert("node-a", "nonce-1", kExpiry, kNow).ok());
  EXPECT_TRUE(cache->CheckAndInsert("node-b", "nonce-1", kExpiry, kNow).ok());
}

TEST(ReplayCacheTest, ExpiryLetsTheSlotBeReused) {
  auto cache = NewCache(100);
  ASSERT_TRUE(cache->CheckAndInsert("node-a", "nonce-1", kExpiry, kNow).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(
      cache->CheckAndInsert("node-a", "nonce-1", kExpiry, kExpiry - absl::Milliseconds(1))));
  EXPECT_TRUE(
      cache->CheckAndInsert("node-a", "nonce-1", kExpiry + absl::Seconds(60), kExpiry).ok());
  EXPECT_EQ(cache->size(), 1u);
}

TEST(ReplayCacheTest, FullCacheFailsClosedWithResourceExhausted) {
  // 16 shards of one entry each: after 16 acceptances every shard is full, whatever the hashing.
  auto cache = NewCache(16);
  int accepted = 0;
  absl::Status last;
  for (int i = 0; i < 17 && last.ok(); ++i) {
    last = cache->CheckAndInsert("node-a", absl::StrCat("nonce-", i), kExpiry, kNow);
    if (last.ok()) ++accepted;
  }
  EXPECT_TRUE(absl::IsResourceExhausted(last)) << last;
  EXPECT_LE(accepted, 16);
  EXPECT_LE(cache->size(), 16u);
}

TEST(ReplayCacheTest, FullCacheStillRecognisesReplays) {
  auto cache = NewCache(16);
  for (int i = 0; i < 17; ++i) {
    (void)cache->CheckAndInsert("node-a", absl::StrCat("nonce-", i), kExpiry, kNow);
  }
  EXPECT_TRUE(absl::IsAlreadyExists(cache->CheckAndInsert("node-a", "nonce-0", kExpiry, kNow)));
}

TEST(ReplayCacheTest, ExpiredEntriesAreSweptWhenFull) {
  auto cache = NewCache(16);
  std::string refused;
  for (int i = 0; i < 17 && refused.empty(); ++i) {
    std::string nonce = absl::StrCat("nonce-", i);
    if (absl::IsResourceExhausted(cache->CheckAndInsert("node-a", nonce, kExpiry, kNow))) {
      refused = nonce;
    }
  }
  ASSERT_FALSE(refused.empty());
  EXPECT_TRUE(cache->CheckAndInsert("node-a", refused, kExpiry + absl::Seconds(60), kExpiry).ok());
}

// Node "hog" signs as fast as it can until the cache refuses it; returns how many it got in.
size_t Hog(ReplayCache& cache, size_t share, absl::Time now, int attempts = 2000) {
  size_t accepted = 0;
  for (int i = 0; i < attempts; ++i) {
    if (cache.CheckAndInsert("hog", absl::StrCat("hog-", i), now + absl::Seconds(60), now, share)
            .ok()) {
      ++accepted;
    }
  }
  return accepted;
}

TEST(ReplayCacheTest, ANodeThatFillsThePoolDoesNotLockOutAnotherWithinItsShare) {
  // 160 entries in 16 shards of 10; 4 nodes, so a share of 40 each.
  auto cache = NewCache(160);
  Hog(*cache, 40, kNow);
  ASSERT_TRUE(
      absl::IsResourceExhausted(cache->CheckAndInsert("hog", "one-more", kExpiry, kNow, 40)));
  for (int i = 0; i < 40; ++i) {
    absl::Status s = cache->CheckAndInsert("node-b", absl::StrCat("b-", i), kExpiry, kNow, 40);
    EXPECT_TRUE(s.ok()) << i << ": " << s;
  }
  EXPECT_EQ(cache->held_by("node-b"), 40u);
}

TEST(ReplayCacheTest, ANodeOverItsShareIsRefusedOnceThePoolIsFull) {
  auto cache = NewCache(160);
  const size_t hog = Hog(*cache, 40, kNow);
  EXPECT_GE(hog, 40u) << "the share is always admitted";
  EXPECT_LE(hog, 160u) << "beyond its share only the pool";
  absl::Status s = cache->CheckAndInsert("hog", "one-more", kExpiry, kNow, 40);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_NE(std::string(s.message()).find("over its share"), std::string::npos) << s;
}

TEST(ReplayCacheTest, SharesNeverTakeTheCacheBeyondTwiceItsCapacity) {
  auto cache = NewCache(160);
  Hog(*cache, 40, kNow);
  for (const char* node : {"node-b", "node-c", "node-d"}) {
    for (int i = 0; i < 100; ++i) {
      (void)cache->CheckAndInsert(node, absl::StrCat(node, i), kExpiry, kNow, 40);
    }
    EXPECT_GE(cache->held_by(node), 40u) << node;
  }
  EXPECT_LE(cache->size(), 320u);
}

TEST(ReplayCacheTest, AShareIsReturnedWhenItsEntriesExpire) {
  auto cache = NewCache(160);
  const absl::Time later = kNow + absl::Seconds(61);  // every hog entry expired
  Hog(*cache, 40, kNow);
  ASSERT_GT(cache->held_by("hog"), 0u);
  // A sweep of the shard the next insert lands in (at most once a second) frees the hog's entries
  // there; inserting into every shard frees them all.
  for (int i = 0; i < 400; ++i) {
    (void)cache->CheckAndInsert("node-b", absl::StrCat("b-", i), later + absl::Seconds(60), later,
                                40);
  }
  EXPECT_EQ(cache->held_by("hog"), 0u);
  EXPECT_TRUE(cache->CheckAndInsert("hog", "fresh", later + absl::Seconds(60), later, 40).ok());
}

TEST(ReplayCacheTest, WithoutAShareTheWholeCacheIsOnePool) {
  auto cache = NewCache(16);
  Hog(*cache, /*share=*/0, kNow);
  EXPECT_TRUE(absl::IsResourceExhausted(
      cache->CheckAndInsert("node-b", "b", kExpiry, kNow, /*node_share=*/0)));
}

TEST(ReplayCacheTest, ConcurrentInsertsOfDistinctNoncesAllSucceedAndEachReplayIsRefused) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 2000;
  // Room to spare: shards fill unevenly, and this test is about concurrency, not capacity.
  auto cache = NewCache(size_t{4} * kThreads * kPerThread);
  std::vector<int> accepted(kThreads, 0);
  std::vector<int> refused(kThreads, 0);
  auto run = [&](int t, std::vector<int>& counter, bool expect_ok) {
    for (int i = 0; i < kPerThread; ++i) {
      absl::Status s =
          cache->CheckAndInsert(absl::StrCat("node-", t), absl::StrCat("nonce-", i), kExpiry, kNow);
      if (expect_ok ? s.ok() : absl::IsAlreadyExists(s)) ++counter[t];
    }
  };
  {
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(run, t, std::ref(accepted), true);
    for (auto& th : threads) th.join();
  }
  {
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
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
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      if (cache->CheckAndInsert("node-a", "nonce-1", kExpiry, kNow).ok()) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 1);
}

}  // namespace
}  // namespace nodegate::auth
