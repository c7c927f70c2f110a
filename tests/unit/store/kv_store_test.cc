#include "store/kv_store.h"

#include <atomic>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/sqlite/sqlite_kv_store.h"
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

class KvStoreTest : public ::testing::Test {
 protected:
  ::nodegate::testlib::ScopedTempDir dir_;  // first: removed after the database closes
  void SetUp() override {
    path_ = dir_.File("nodegate.db");
    db_ = *Database::Open(path_);
  }
  std::unique_ptr<KvStore> Open(KvLimits limits = {}) { return *OpenSqliteKvStore(db_, limits); }

  std::string path_;
  std::shared_ptr<Database> db_;
};

TEST_F(KvStoreTest, SetThenGetReturnsValueAndContentType) {
  auto kv = Open();
  ASSERT_TRUE(kv->Set("k", "v", "text/plain").ok());
  absl::StatusOr<KvEntry> e = kv->Get("k");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->value, "v");
  EXPECT_EQ(e->content_type, "text/plain");
  EXPECT_LE(e->updated_at, absl::Now());
}

TEST_F(KvStoreTest, ValuesAreArbitraryBytesAndKeysAnyUtf8) {
  auto kv = Open();
  std::string key("a\0b\xc3\xa9", 5);  // NUL is valid UTF-8
  std::string value("\0\x01\x02\xfe", 4);
  ASSERT_TRUE(kv->Set(key, value, "").ok());
  EXPECT_EQ(kv->Get(key)->value, value);
  EXPECT_EQ(kv->Get(std::string("a", 1)).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(KvStoreTest, EmptyValueIsStoredAsEmpty) {
  auto kv = Open();
  ASSERT_TRUE(kv->Set("k", "", "").ok());
  absl::StatusOr<KvEntry> e = kv->Get("k");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->value, "");
}

TEST_F(KvStoreTest, SetOverwrites) {
  auto kv = Open();
  ASSERT_TRUE(kv->Set("k", "one", "a").ok());
  ASSERT_TRUE(kv->Set("k", "two", "b").ok());
  EXPECT_EQ(kv->Get("k")->value, "two");
  EXPECT_EQ(kv->Get("k")->content_type, "b");
}

TEST_F(KvStoreTest, MissingKeyIsNotFound) {
  auto kv = Open();
  EXPECT_EQ(kv->Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(kv->Delete("nope").code(), absl::StatusCode::kNotFound);
}

TEST_F(KvStoreTest, ExistsAnswersBothWays) {
  auto kv = Open();
  ASSERT_TRUE(kv->Set("k", "v", "").ok());
  EXPECT_TRUE(*kv->Exists("k"));
  EXPECT_FALSE(*kv->Exists("other"));
}

TEST_F(KvStoreTest, DeleteRemovesTheKey) {
  auto kv = Open();
  ASSERT_TRUE(kv->Set("k", "v", "").ok());
  ASSERT_TRUE(kv->Delete("k").ok());
  EXPECT_FALSE(*kv->Exists("k"));
}

TEST_F(KvStoreTest, EmptyKeyIsInvalidArgument) {
  auto kv = Open();
  EXPECT_EQ(kv->Set("", "v", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv->Get("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KvStoreTest, OversizedKeyIsInvalidArgument) {
  auto kv = Open(WithLimit(&KvLimits::max_key_bytes, 4));
  EXPECT_TRUE(kv->Set("abcd", "v", "").ok());
  EXPECT_EQ(kv->Set("abcde", "v", "").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KvStoreTest, OversizedValueIsInvalidArgument) {
  auto kv = Open(WithLimit(&KvLimits::max_value_bytes, 3));
  EXPECT_TRUE(kv->Set("k", "abc", "").ok());
  EXPECT_EQ(kv->Set("k", "abcd", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv->Get("k")->value, "abc");
}

TEST_F(KvStoreTest, OversizedContentTypeIsInvalidArgument) {
  auto kv = Open();
  EXPECT_EQ(kv->Set("k", "v", std::string(kMaxContentTypeBytes + 1, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(KvStoreTest, KeyCountLimitIsResourceExhausted) {
  auto kv = Open(WithLimit(&KvLimits::max_keys, 2));
  ASSERT_TRUE(kv->Set("a", "1", "").ok());
  ASSERT_TRUE(kv->Set("b", "2", "").ok());
  EXPECT_EQ(kv->Set("c", "3", "").code(), absl::StatusCode::kResourceExhausted);
  // Overwriting an existing key adds no key.
  EXPECT_TRUE(kv->Set("a", "11", "").ok());
  // Deleting frees a slot.
  ASSERT_TRUE(kv->Delete("b").ok());
  EXPECT_TRUE(kv->Set("c", "3", "").ok());
}

TEST_F(KvStoreTest, TotalBytesLimitIsResourceExhausted) {
  // Each entry counts key + value bytes.
  auto kv = Open(WithLimit(&KvLimits::max_total_bytes, 10));
  ASSERT_TRUE(kv->Set("a", "1234", "").ok());  // 5
  ASSERT_TRUE(kv->Set("b", "1234", "").ok());  // 10
  EXPECT_EQ(kv->Set("c", "", "").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(kv->Set("a", "12345", "").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(kv->Set("a", "123", "").ok());  // shrinking is fine: 9
  EXPECT_TRUE(kv->Set("c", "", "").ok());     // 10
}

TEST_F(KvStoreTest, TotalsAreKeptAcrossReopen) {
  {
    auto kv = Open(WithLimit(&KvLimits::max_keys, 1));
    ASSERT_TRUE(kv->Set("a", "1", "").ok());
  }
  db_ = *Database::Open(path_);
  auto kv = Open(WithLimit(&KvLimits::max_keys, 1));
  EXPECT_EQ(kv->Set("b", "2", "").code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(KvStoreTest, NonPositiveLimitsAreRefusedAtConstruction) {
  EXPECT_EQ(OpenSqliteKvStore(db_, WithLimit(&KvLimits::max_key_bytes, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenSqliteKvStore(db_, WithLimit(&KvLimits::max_keys, -1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenSqliteKvStore(nullptr, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KvStoreTest, KeysFiltersByPrefixInByteOrder) {
  auto kv = Open();
  for (const char* k : {"app/b", "app/a", "apq", "ap", "zzz", "app/c"}) {
    ASSERT_TRUE(kv->Set(k, "v", "").ok());
  }
  absl::StatusOr<KvKeyPage> page = kv->Keys("app/", 0, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->keys, ElementsAre("app/a", "app/b", "app/c"));
  EXPECT_EQ(page->next_page_token, "");
}

TEST_F(KvStoreTest, EmptyPrefixListsEverything) {
  auto kv = Open();
  ASSERT_TRUE(kv->Set("b", "v", "").ok());
  ASSERT_TRUE(kv->Set("a", "v", "").ok());
  EXPECT_THAT(kv->Keys("", 0, "")->keys, ElementsAre("a", "b"));
}

TEST_F(KvStoreTest, SetRefusesAKeyThatIsNotUtf8) {
  auto kv = Open();
  absl::Status s = kv->Set(std::string("k\xff", 2), "v", "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "store: kv: key must be valid UTF-8");
  EXPECT_THAT(kv->Keys("", 0, "")->keys, IsEmpty());
}

TEST_F(KvStoreTest, PrefixEndingInFfBytesStillMatches) {
  auto kv = Open();
  const std::string last("p\xf4\x8f\xbf\xbf", 5);  // U+10FFFF: the highest UTF-8 key under "p"
  ASSERT_TRUE(kv->Set(last + "x", "v", "").ok());
  ASSERT_TRUE(kv->Set("q", "v", "").ok());
  EXPECT_THAT(kv->Keys(last, 0, "")->keys, ElementsAre(last + "x"));
  // A prefix no UTF-8 key can have still bounds the range: "q" must not match "p\xff".
  EXPECT_THAT(kv->Keys(std::string("p\xff", 2), 0, "")->keys, IsEmpty());
}

TEST_F(KvStoreTest, KeysPagesWithoutGapsOrRepeats) {
  auto kv = Open();
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

TEST_F(KvStoreTest, KeysOfNoMatchIsEmpty) {
  auto kv = Open();
  ASSERT_TRUE(kv->Set("a", "v", "").ok());
  absl::StatusOr<KvKeyPage> page = kv->Keys("b", 0, "");
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(page->keys, IsEmpty());
}

TEST_F(KvStoreTest, KeysRejectsTokenOfAnotherPrefixOrGarbage) {
  auto kv = Open();
  for (const char* k : {"a1", "a2", "b1"}) ASSERT_TRUE(kv->Set(k, "v", "").ok());
  std::string token = kv->Keys("a", 1, "")->next_page_token;
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(kv->Keys("b", 1, token).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv->Keys("a", 1, "***").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv->Keys("a", -5, "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KvStoreTest, ConcurrentSetsOnTwoStoreObjectsRespectKeyLimit) {
  constexpr int kLimit = 40;
  auto a = Open(WithLimit(&KvLimits::max_keys, kLimit));
  auto b = *OpenSqliteKvStore(*Database::Open(path_), WithLimit(&KvLimits::max_keys, kLimit));
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

TEST_F(KvStoreTest, DataSurvivesReopen) {
  ASSERT_TRUE(Open()->Set("k", "durable", "text/plain").ok());
  db_.reset();
  db_ = *Database::Open(path_);
  EXPECT_EQ(Open()->Get("k")->value, "durable");
}

}  // namespace
}  // namespace nodegate::store
