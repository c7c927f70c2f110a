#include "store/nonce_store.h"

#include <algorithm>
#include <string>

#include "gtest/gtest.h"
#include "testlib/store_backends.h"

namespace nodegate::store {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

NonceRecord Nonce(std::string nonce, absl::Time expires_at = kNow + absl::Minutes(1)) {
  return NonceRecord{"node-a", std::move(nonce), std::string("\x01\x00\xff", 3), expires_at};
}

// Every case runs on SQLite and on PostgreSQL (testlib/store_backends.h).
class NonceStoreTest : public ::nodegate::testlib::StoreBackendTest {
 protected:
  void SetUp() override {
    StoreBackendTest::SetUp();
    if (HasFatalFailure()) return;
    store_ = Open().nonces;
  }
  std::unique_ptr<NonceStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, NonceStoreTest, ::nodegate::testlib::AllStoreBackends(),
                         ::nodegate::testlib::StoreBackendName);

TEST_P(NonceStoreTest, RecordedNonceIsLiveWithItsDigest) {
  ASSERT_TRUE(store_->Record(Nonce("n1"), kNow).ok());
  absl::StatusOr<std::vector<NonceRecord>> live = store_->Live(kNow);
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].nonce, "n1");
  EXPECT_EQ((*live)[0].digest, std::string("\x01\x00\xff", 3));
  EXPECT_EQ((*live)[0].expires_at, kNow + absl::Minutes(1));
}

TEST_P(NonceStoreTest, NonceRecordedThroughOneInstanceIsRefusedThroughAnother) {
  std::unique_ptr<NonceStore> other = Open().nonces;
  ASSERT_TRUE(store_->Record(Nonce("n1"), kNow).ok());
  EXPECT_EQ(other->Record(Nonce("n1"), kNow).code(), absl::StatusCode::kAlreadyExists);
}

TEST_P(NonceStoreTest, ExpiredNonceMayBeRecordedAgain) {
  ASSERT_TRUE(store_->Record(Nonce("n1", kNow + absl::Seconds(1)), kNow).ok());
  EXPECT_TRUE(store_->Record(Nonce("n1"), kNow + absl::Seconds(1)).ok());
}

TEST_P(NonceStoreTest, AliveUntilRoundTripsAndStartsInThePast) {
  EXPECT_EQ(*store_->AliveUntil(), absl::InfinitePast());
  ASSERT_TRUE(store_->SetAliveUntil(kNow).ok());
  ASSERT_TRUE(store_->SetAliveUntil(kNow + absl::Seconds(5)).ok());
  EXPECT_EQ(*Open().nonces->AliveUntil(), kNow + absl::Seconds(5));
}

TEST_P(NonceStoreTest, NodeIdAndNonceKeepAnyBytes) {
  NonceRecord r = Nonce(std::string("n\0\xff", 3));
  r.node_id = std::string("\xe9", 1);
  ASSERT_TRUE(store_->Record(r, kNow).ok());
  EXPECT_EQ(store_->Record(r, kNow).code(), absl::StatusCode::kAlreadyExists);
  std::vector<NonceRecord> live = *store_->Live(kNow);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].node_id, r.node_id);
  EXPECT_EQ(live[0].nonce, r.nonce);
}

TEST_P(NonceStoreTest, ABatchTellsEachNewRecordFromOneStoredBeforeOrEarlierInTheBatch) {
  ASSERT_TRUE(store_->Record(Nonce("old"), kNow).ok());

  absl::StatusOr<std::vector<bool>> fresh =
      store_->RecordBatch({Nonce("a"), Nonce("old"), Nonce("b"), Nonce("a")}, kNow);

  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(*fresh, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(store_->Live(kNow)->size(), 3u);
}

TEST_P(NonceStoreTest, ABatchRecordedThroughOneInstanceIsKnownToAnother) {
  std::unique_ptr<NonceStore> other = Open().nonces;
  ASSERT_TRUE(store_->RecordBatch({Nonce("a"), Nonce("b")}, kNow).ok());

  absl::StatusOr<std::vector<bool>> fresh = other->RecordBatch({Nonce("b"), Nonce("c")}, kNow);

  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(*fresh, (std::vector<bool>{false, true}));
}

TEST_P(NonceStoreTest, SameNonceOfAnotherNodeIsAnotherRecord) {
  NonceRecord other_node = Nonce("n1");
  other_node.node_id = "node-b";

  absl::StatusOr<std::vector<bool>> fresh = store_->RecordBatch({Nonce("n1"), other_node}, kNow);

  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(*fresh, (std::vector<bool>{true, true}));
}

TEST_P(NonceStoreTest, AnEmptyBatchRecordsNothing) {
  absl::StatusOr<std::vector<bool>> fresh = store_->RecordBatch({}, kNow);

  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_TRUE(fresh->empty());
}

TEST_P(NonceStoreTest, ABatchOverTheLimitOrWithAnEmptyNonceIsRefusedWhole) {
  std::vector<NonceRecord> too_many;
  for (size_t i = 0; i <= kMaxNonceBatch; ++i) too_many.push_back(Nonce("n" + std::to_string(i)));

  absl::StatusOr<std::vector<bool>> over = store_->RecordBatch(too_many, kNow);
  absl::StatusOr<std::vector<bool>> empty_nonce =
      store_->RecordBatch({Nonce("a"), Nonce("")}, kNow);

  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status().message(), "store: nonce batch: at most 1000 records, got 1001");
  EXPECT_EQ(empty_nonce.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->Live(kNow)->empty());
}

TEST_P(NonceStoreTest, AFullBatchIsRecordedWhole) {
  std::vector<NonceRecord> full;
  for (size_t i = 0; i < kMaxNonceBatch; ++i) full.push_back(Nonce("n" + std::to_string(i)));

  absl::StatusOr<std::vector<bool>> fresh = store_->RecordBatch(full, kNow);

  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(std::count(fresh->begin(), fresh->end(), true), 1000);
  EXPECT_EQ(store_->Live(kNow)->size(), kMaxNonceBatch);
}

}  // namespace
}  // namespace nodegate::store
