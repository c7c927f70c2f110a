#include "store/kv_store.h"

#include <atomic>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/postgres/postgres_stores.h"
#include "store/sqlite/sqlite_kv_store.h"
#include "store/store_factory.h"
#include "testlib/store_backends.h"
#include "testlib/temp_dir.h"

namespace nodegate::store {
namespace {

KvLimits WithLimit(int64_t KvLimits::*field, int64_t value) {
  KvLimits limits;
  limits.*field = value;
  return limits;
}

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Every case runs on SQLite and on PostgreSQL (testlib/store_backends.h).
class KvStoreTest : public ::nodegate::testlib::StoreBackendTest {
 protected:
  // Another instance on this test's database each time.
  std::unique_ptr<KvStore> OpenKv(KvLimits limits = {}) { return Open(limits).kv; }
};

INSTANTIATE_TEST_SUITE_P(Backends, KvStoreTest, ::nodegate::testlib::AllStoreBackends(),
                         ::nodegate::testlib::StoreBackendName);

TEST_P(KvStoreTest, SetThenGetReturnsValueAndContentType) {
  auto kv = OpenKv();
  ASSERT_TRUE(kv->Set("k", "v", "text/plain").ok());
  absl::StatusOr<KvEntry> e = kv->Get("k");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->value, "v");
  EXPECT_EQ(e->content_type, "text/plain");
  EXPECT_LE(e->updated_at, absl::Now());
}

TEST_P(KvStoreTest, ValuesAreArbitraryBytesAndKeysAnyUtf8) {
  auto kv = OpenKv();
  std::string key("a\0b\xc3\xa9", 5);  // NUL is valid UTF-8
  std::string value("\0\x01\x02\xfe", 4);
  ASSERT_TRUE(kv->Set(key, value, "").ok());
  EXPECT_EQ(kv->Get(key)->value, value);
  EXPECT_EQ(kv->Get(std::string("a", 1)).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(KvStoreTest, EmptyValueIsStoredAsEmpty) {
  auto kv = OpenKv();
  ASSERT_TRUE(kv->Set("k", "", "").ok());
  absl::StatusOr<KvEntry> e = kv->Get("k");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->value, "");
}

TEST_P(KvStoreTest, SetOverwrites) {
  auto kv = OpenKv();
  ASSERT_TRUE(kv->Set("k", "one", "a").ok());
  ASSERT_TRUE(kv->Set("k", "two", "b").ok());
  EXPECT_EQ(kv->Get("k")->value, "two");
  EXPECT_EQ(kv->Get("k")->content_type, "b");
}

TEST_P(KvStoreTest, MissingKeyIsNotFound) {
  auto kv = OpenKv();
  EXPECT_EQ(kv->Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(kv->Delete("nope").code(), absl::StatusCode::kNotFound);
}

TEST_P(KvStoreTest, ExistsAnswersBothWays) {
  auto kv = OpenKv();
  ASSERT_TRUE(kv->Set("k", "v", "").ok());
  EXPECT_TRUE(*kv->Exists("k"));
  EXPECT_FALSE(*kv->Exists("other"));
}

TEST_P(KvStoreTest, DeleteRemovesTheKey) {
  auto kv = OpenKv();
  ASSERT_TRUE(kv->Set("k", "v", "").ok());
  ASSERT_TRUE(kv->Delete("k").ok());
  EXPECT_FALSE(*kv->Exists("k"));
}

TEST_P(KvStoreTest, EmptyKeyIsInvalidArgument) {
  auto kv = OpenKv();
  EXPECT_EQ(kv->Set("", "v", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv->Get("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(KvStoreTest, OversizedKeyIsInvalidArgument) {
  auto kv = OpenKv(WithLimit(&KvLimits::max_key_bytes, 4));
  EXPECT_TRUE(kv->Set("abcd", "v", "").ok());
  EXPECT_EQ(kv->Set("abcde", "v", "").code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(KvStoreTest, OversizedValueIsInvalidArgument) {
  auto kv = OpenKv(WithLimit(&KvLimits::max_value_bytes, 3));
  EXPECT_TRUE(kv->Set("k", "abc", "").ok());
  EXPECT_EQ(kv->Set("k", "abcd", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv->Get("k")->value, "abc");
}

TEST_P(KvStoreTest, OversizedContentTypeIsInvalidArgument) {
  auto kv = OpenKv();
  EXPECT_EQ(kv->Set("k", "v", std::string(kMaxContentTypeBytes + 1, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(KvStoreTest, KeyCountLimitIsResourceExhausted) {
  auto kv = OpenKv(WithLimit(&KvLimits::max_keys, 2));
  ASSERT_TRUE(kv->Set("a", "1", "").ok());
  ASSERT_TRUE(kv->Set("b", "2", "").ok());
  EXPECT_EQ(kv->Set("c", "3", "").code(), absl::StatusCode::kResourceExhausted);
  // Overwriting an existing key adds no key.
  EXPECT_TRUE(kv->Set("a", "11", "").ok());
  // Deleting frees a slot.
  ASSERT_TRUE(kv->Delete("b").ok());
  EXPECT_TRUE(kv->Set("c", "3", "").ok());
}

TEST_P(KvStoreTest, TotalBytesLimitIsResourceExhausted) {
  // Each entry counts key + value bytes.
  auto kv = OpenKv(WithLimit(&KvLimits::max_total_bytes, 10));
  ASSERT_TRUE(kv->Set("a", "1234", "").ok());  // 5
  ASSERT_TRUE(kv->Set("b", "1234", "").ok());  // 10
  EXPECT_EQ(kv->Set("c", "", "").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(kv->Set("a", "12345", "").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(kv->Set("a", "123", "").ok());  // shrinking is fine: 9
  EXPECT_TRUE(kv->Set("c", "", "").ok());     // 10
}

TEST_P(KvStoreTest, TotalsAreKeptAcrossReopen) {
  {
    auto kv = OpenKv(WithLimit(&KvLimits::max_keys, 1));
    ASSERT_TRUE(kv->Set("a", "1", "").ok());
  }
  auto kv = OpenKv(WithLimit(&KvLimits::max_keys, 1));
  EXPECT_EQ(kv->Set("b", "2", "").code(), absl::StatusCode::kResourceExhausted);
}

TEST_P(KvStoreTest, NonPositiveLimitsAreRefusedAtConstruction) {
  EXPECT_EQ(OpenStores(config(), WithLimit(&KvLimits::max_key_bytes, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStores(config(), WithLimit(&KvLimits::max_keys, -1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KvStoreFactoryTest, RefusesNullDatabase) {
  EXPECT_EQ(OpenSqliteKvStore(nullptr, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenPostgresKvStore(nullptr, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(KvStoreTest, KeysFiltersByPrefixInByteOrder) {
  auto kv = OpenKv();
  for (const char* k : {"app/b", "app/a", "apq", "ap", "zzz", "app/c"}) {
    ASSERT_TRUE(kv->Set(k, "v", "").ok());
  }
  absl::StatusOr<KvKeyPage> page = kv->Keys("app/", 0, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->keys, ElementsAre("app/a", "app/b", "app/c"));
  EXPECT_EQ(page->next_page_token, "");
}

TEST_P(KvStoreTest, EmptyPrefixListsEverything) {
  auto kv = OpenKv();
  ASSERT_TRUE(kv->Set("b", "v", "").ok());
  ASSERT_TRUE(kv->Set("a", "v", "").ok());
  EXPECT_THAT(kv->Keys("", 0, "")->keys, ElementsAre("a", "b"));
}

TEST_P(KvStoreTest, SetRefusesAKeyThatIsNotUtf8) {
  auto kv = OpenKv();
  absl::Status s = kv->Set(std::string("k\xff", 2), "v", "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "store: kv: key must be valid UTF-8");
  EXPECT_THAT(kv->Keys("", 0, "")->keys, IsEmpty());
}

TEST_P(KvStoreTest, PrefixEndingInFfBytesStillMatches) {
  auto kv = OpenKv();
  const std::string last("p\xf4\x8f\xbf\xbf", 5);  // U+10FFFF: the highest UTF-8 key under "p"
  ASSERT_TRUE(kv->Set(last + "x", "v", "").ok());
  ASSERT_TRUE(kv->Set("q", "v", "").ok());
  EXPECT_THAT(kv->Keys(last, 0, "")->keys, ElementsAre(last + "x"));
  // A prefix no UTF-8 key can have still bounds the range: "q" must not match "p\xff".
  EXPECT_THAT(kv->Keys(std::string("p\xff", 2), 0, "")->keys, IsEmpty());
}

TEST_P(KvStoreTest, KeysPagesWithoutGapsOrRepeats) {
  auto kv = OpenKv();
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(kv->Set("k" + std::to_string(100 + i), "v", "").ok());
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<KvKeyPage> page = kv->Keys("k", 10, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const std::string& k : page->keys) EXPECT_TRUE(seen.insert(k).second) << k;
    token = page->next_page_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(pages, 3);
}

TEST_P(KvStoreTest, KeysOfNoMatchIsEmpty) {
  auto kv = OpenKv();
  ASSERT_TRUE(kv->Set("a", "v", "").ok());
  absl::StatusOr<KvKeyPage> page = kv->Keys("b", 0, "");
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(page->keys, IsEmpty());
}

TEST_P(KvStoreTest, KeysRejectsTokenOfAnotherPrefixOrGarbage) {
  auto kv = OpenKv();
  for (const char* k : {"a1", "a2", "b1"}) ASSERT_TRUE(kv->Set(k, "v", "").ok());
  std::string token = kv->Keys("a", 1, "")->next_page_token;
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(kv->Keys("b", 1, token).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv->Keys("a", 1, "***").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv->Keys("a", -5, "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(KvStoreTest, ConcurrentSetsOnTwoStoreObjectsRespectKeyLimit) {
  constexpr int kLimit = 40;
  auto a = OpenKv(WithLimit(&KvLimits::max_keys, kLimit));
  auto b = OpenKv(WithLimit(&KvLimits::max_keys, kLimit));  // another process or replica
  std::atomic<int> stored{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      KvStore& kv = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < 10; ++i) {
        absl::Status s = kv.Set("t" + std::to_string(t) + "-" + std::to_string(i), "v", "");
        if (s.ok()) {
          ++stored;
        } else if (s.code() == absl::StatusCode::kResourceExhausted) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(stored.load(), kLimit);
  EXPECT_EQ(refused.load(), 80 - kLimit);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(a->Keys("", 1000, "")->keys.size(), static_cast<size_t>(kLimit));
}

TEST_P(KvStoreTest, DataSurvivesReopen) {
  ASSERT_TRUE(OpenKv()->Set("k", "durable", "text/plain").ok());
  EXPECT_EQ(OpenKv()->Get("k")->value, "durable");
}

TEST_P(KvStoreTest, AcknowledgedSetIsReadByAnotherInstanceAtOnce) {
  std::unique_ptr<KvStore> a = OpenKv();
  std::unique_ptr<KvStore> b = OpenKv();
  for (int i = 0; i < 20; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_TRUE(a->Set(key, "v" + std::to_string(i), "text/plain").ok());
    // No wait, no retry: OK from Set means committed, so the other instance sees it now.
    absl::StatusOr<KvEntry> seen = b->Get(key);
    ASSERT_TRUE(seen.ok()) << key << ": " << seen.status();
    EXPECT_EQ(seen->value, "v" + std::to_string(i));
  }
  ASSERT_TRUE(b->Delete("k0").ok());
  EXPECT_EQ(a->Get("k0").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(KvStoreTest, ContentTypeKeepsAnyBytes) {
  auto kv = OpenKv();
  const std::string content_type("text/\0x\xff\xfe", 9);  // NUL and bytes that are not UTF-8
  ASSERT_TRUE(kv->Set("k", "v", content_type).ok());
  EXPECT_EQ(kv->Get("k")->content_type, content_type);
}

}  // namespace
}  // namespace nodegate::store
