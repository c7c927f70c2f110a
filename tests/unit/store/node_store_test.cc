#include "store/node_store.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/postgres/postgres_stores.h"
#include "store/sqlite/sqlite_node_store.h"
#include "testlib/store_backends.h"

namespace nodegate::store {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

NodeRecord Node(std::string id) {
  NodeRecord r;
  r.id = std::move(id);
  r.algorithm = "ed25519";
  r.public_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
  r.roles = {"admin", "reader"};
  r.cert_serial = "0a1b";
  return r;
}

// Every case runs on SQLite and on PostgreSQL (testlib/store_backends.h).
class NodeStoreTest : public ::nodegate::testlib::StoreBackendTest {
 protected:
  void SetUp() override {
    StoreBackendTest::SetUp();
    if (HasFatalFailure()) return;
    store_ = Open().nodes;
  }
  std::unique_ptr<NodeStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, NodeStoreTest, ::nodegate::testlib::AllStoreBackends(),
                         ::nodegate::testlib::StoreBackendName);

TEST_P(NodeStoreTest, CreateThenGetReturnsTheSameRecord) {
  absl::StatusOr<NodeRecord> created = store_->Create(Node("node-a"));
  ASSERT_TRUE(created.ok()) << created.status();

  absl::StatusOr<NodeRecord> got = store_->Get("node-a");

  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->id, "node-a");
  EXPECT_EQ(got->algorithm, "ed25519");
  EXPECT_EQ(got->public_key_pem, Node("x").public_key_pem);
  EXPECT_THAT(got->roles, ElementsAre("admin", "reader"));
  EXPECT_TRUE(got->enabled);
  EXPECT_EQ(got->cert_serial, "0a1b");
  EXPECT_EQ(got->previous_public_key_pem, "");
  EXPECT_EQ(got->previous_key_valid_until, absl::InfinitePast());
  EXPECT_EQ(got->created_at, created->created_at);
  EXPECT_EQ(got->updated_at, created->updated_at);
  EXPECT_NE(got->created_at, absl::InfinitePast());
}

TEST_P(NodeStoreTest, EmptyRolesRoundTripAsEmpty) {
  NodeRecord r = Node("n");
  r.roles.clear();
  ASSERT_TRUE(store_->Create(r).ok());
  EXPECT_THAT(store_->Get("n")->roles, IsEmpty());
}

TEST_P(NodeStoreTest, CreateRejectsDuplicateId) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  EXPECT_EQ(store_->Create(Node("n")).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_P(NodeStoreTest, CreateRejectsMalformedId) {
  for (const std::string& id :
       std::vector<std::string>{"", "has space", "slash/no", std::string(129, 'a'), "semi;colon"}) {
    EXPECT_EQ(store_->Create(Node(id)).status().code(), absl::StatusCode::kInvalidArgument) << id;
  }
  EXPECT_TRUE(store_->Create(Node(std::string(128, 'a'))).ok());
}

TEST_P(NodeStoreTest, CreateRejectsMissingKeyOrAlgorithm) {
  NodeRecord no_key = Node("a");
  no_key.public_key_pem.clear();
  NodeRecord no_alg = Node("b");
  no_alg.algorithm.clear();
  EXPECT_EQ(store_->Create(no_key).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Create(no_alg).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(NodeStoreTest, CreateRejectsRoleWithComma) {
  NodeRecord r = Node("a");
  r.roles = {"a,b"};
  EXPECT_EQ(store_->Create(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.roles = {""};
  EXPECT_EQ(store_->Create(r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(NodeStoreTest, GetUnknownIsNotFound) {
  EXPECT_EQ(store_->Get("nobody").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(NodeStoreTest, GetMalformedIdIsInvalidArgument) {
  EXPECT_EQ(store_->Get("no such!").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(NodeStoreTest, UpdateReplacesFieldsAndKeepsCreatedAt) {
  NodeRecord created = *store_->Create(Node("n"));
  NodeRecord changed = created;
  changed.roles = {"writer"};
  changed.cert_serial = "ff";
  changed.enabled = false;
  changed.created_at = absl::UnixEpoch();  // ignored

  absl::StatusOr<NodeRecord> updated = store_->Update(changed);

  ASSERT_TRUE(updated.ok()) << updated.status();
  NodeRecord got = *store_->Get("n");
  EXPECT_THAT(got.roles, ElementsAre("writer"));
  EXPECT_EQ(got.cert_serial, "ff");
  EXPECT_FALSE(got.enabled);
  EXPECT_EQ(got.created_at, created.created_at);
  EXPECT_GE(got.updated_at, created.updated_at);
}

TEST_P(NodeStoreTest, UpdateUnknownIsNotFound) {
  EXPECT_EQ(store_->Update(Node("ghost")).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(NodeStoreTest, UpdateValidatesInput) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  NodeRecord bad = Node("n");
  bad.public_key_pem.clear();
  EXPECT_EQ(store_->Update(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(NodeStoreTest, SetEnabledTogglesTheFlag) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  ASSERT_TRUE(store_->SetEnabled("n", false).ok());
  EXPECT_FALSE(store_->Get("n")->enabled);
  ASSERT_TRUE(store_->SetEnabled("n", true).ok());
  EXPECT_TRUE(store_->Get("n")->enabled);
}

TEST_P(NodeStoreTest, SetEnabledUnknownIsNotFound) {
  EXPECT_EQ(store_->SetEnabled("ghost", false).code(), absl::StatusCode::kNotFound);
}

TEST_P(NodeStoreTest, RemoveDeletesTheNode) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  ASSERT_TRUE(store_->Remove("n").ok());
  EXPECT_EQ(store_->Get("n").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(NodeStoreTest, RemoveUnknownIsNotFound) {
  EXPECT_EQ(store_->Remove("ghost").code(), absl::StatusCode::kNotFound);
}

TEST_P(NodeStoreTest, RotateKeyKeepsOldKeyAsPreviousUntilGrace) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  absl::Time grace = absl::FromUnixSeconds(2'000'000'000);

  absl::StatusOr<NodeRecord> rotated = store_->RotateKey("n", "sm2-sm3", "NEW PEM", grace);

  ASSERT_TRUE(rotated.ok()) << rotated.status();
  NodeRecord got = *store_->Get("n");
  EXPECT_EQ(got.algorithm, "sm2-sm3");
  EXPECT_EQ(got.public_key_pem, "NEW PEM");
  EXPECT_EQ(got.previous_algorithm, "ed25519");
  EXPECT_EQ(got.previous_public_key_pem, Node("x").public_key_pem);
  EXPECT_EQ(got.previous_key_valid_until, grace);
}

TEST_P(NodeStoreTest, SecondRotationForgetsTheOldestKey) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  absl::Time grace = absl::FromUnixSeconds(2'000'000'000);
  ASSERT_TRUE(store_->RotateKey("n", "ecdsa-p256-sha256", "SECOND", grace).ok());
  ASSERT_TRUE(store_->RotateKey("n", "ed25519", "THIRD", grace).ok());
  NodeRecord got = *store_->Get("n");
  EXPECT_EQ(got.public_key_pem, "THIRD");
  EXPECT_EQ(got.previous_public_key_pem, "SECOND");
  EXPECT_EQ(got.previous_algorithm, "ecdsa-p256-sha256");
}

TEST_P(NodeStoreTest, RotateKeyUnknownIsNotFound) {
  EXPECT_EQ(store_->RotateKey("ghost", "ed25519", "PEM", absl::Now()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(NodeStoreTest, RotateKeyRejectsEmptyKey) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  EXPECT_EQ(store_->RotateKey("n", "ed25519", "", absl::Now()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get("n")->public_key_pem, Node("x").public_key_pem);
}

TEST_P(NodeStoreTest, ListPagesInIdOrder) {
  for (const char* id : {"c", "a", "e", "b", "d"}) ASSERT_TRUE(store_->Create(Node(id)).ok());

  absl::StatusOr<NodePage> first = store_->List(2, "");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<NodePage> second = store_->List(2, first->next_page_token);
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<NodePage> third = store_->List(2, second->next_page_token);
  ASSERT_TRUE(third.ok()) << third.status();

  auto ids = [](const NodePage& p) {
    std::vector<std::string> out;
    for (const NodeRecord& r : p.records) out.push_back(r.id);
    return out;
  };
  EXPECT_THAT(ids(*first), ElementsAre("a", "b"));
  EXPECT_THAT(ids(*second), ElementsAre("c", "d"));
  EXPECT_THAT(ids(*third), ElementsAre("e"));
  EXPECT_EQ(third->next_page_token, "");
}

TEST_P(NodeStoreTest, ListExactlyOnePageHasNoNextToken) {
  ASSERT_TRUE(store_->Create(Node("a")).ok());
  ASSERT_TRUE(store_->Create(Node("b")).ok());
  absl::StatusOr<NodePage> page = store_->List(2, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->records.size(), 2u);
  EXPECT_EQ(page->next_page_token, "");
}

TEST_P(NodeStoreTest, ListOfEmptyStoreIsEmpty) {
  absl::StatusOr<NodePage> page = store_->List(0, "");
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(page->records, IsEmpty());
  EXPECT_EQ(page->next_page_token, "");
}

TEST_P(NodeStoreTest, ListRejectsNegativePageSizeAndForeignToken) {
  EXPECT_EQ(store_->List(-1, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->List(10, "!!not-a-token!!").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(NodeStoreTest, GenerationGrowsOnEveryWrite) {
  uint64_t g0 = store_->Generation().value();
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  uint64_t g1 = store_->Generation().value();
  ASSERT_TRUE(store_->SetEnabled("n", false).ok());
  uint64_t g2 = store_->Generation().value();
  ASSERT_TRUE(store_->RotateKey("n", "ed25519", "K", absl::Now()).ok());
  uint64_t g3 = store_->Generation().value();
  ASSERT_TRUE(store_->Remove("n").ok());
  uint64_t g4 = store_->Generation().value();
  EXPECT_LT(g0, g1);  // grows: the CLI waits for a node to reach it
  EXPECT_LT(g1, g2);
  EXPECT_LT(g2, g3);
  EXPECT_LT(g3, g4);
}

TEST_P(NodeStoreTest, SetRolesReplacesOnlyTheRoles) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  ASSERT_TRUE(store_->RotateKey("n", "ecdsa-p256-sha256", "NEW", absl::InfiniteFuture()).ok());
  ASSERT_TRUE(store_->SetEnabled("n", false).ok());
  uint64_t before = store_->Generation().value();

  absl::StatusOr<NodeRecord> r = store_->SetRoles("n", {"ops"});

  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->roles, ElementsAre("ops"));
  NodeRecord stored = store_->Get("n").value();
  EXPECT_THAT(stored.roles, ElementsAre("ops"));
  EXPECT_EQ(stored.public_key_pem, "NEW");  // the rotation is kept, unlike Get + Update
  EXPECT_EQ(stored.algorithm, "ecdsa-p256-sha256");
  EXPECT_FALSE(stored.previous_public_key_pem.empty());
  EXPECT_FALSE(stored.enabled);
  EXPECT_EQ(stored.cert_serial, "0a1b");
  EXPECT_LT(before, store_->Generation().value());
  EXPECT_TRUE(store_->SetRoles("n", {}).value().roles.empty());
}

TEST_P(NodeStoreTest, SetRolesRefusesUnknownNodeAndBadRoles) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  uint64_t g = store_->Generation().value();
  EXPECT_EQ(store_->SetRoles("ghost", {"ops"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->SetRoles("n", {"has space"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Generation().value(), g);
  EXPECT_THAT(store_->Get("n").value().roles, ElementsAre("admin", "reader"));
}

TEST_P(NodeStoreTest, GenerationUnchangedByFailedWriteAndReads) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  uint64_t g = store_->Generation().value();
  EXPECT_FALSE(store_->Create(Node("n")).ok());
  EXPECT_FALSE(store_->Remove("ghost").ok());
  EXPECT_TRUE(store_->Get("n").ok());
  EXPECT_EQ(store_->Generation().value(), g);
}

TEST_P(NodeStoreTest, DataSurvivesReopen) {
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  store_.reset();

  std::unique_ptr<NodeStore> reopened = Open().nodes;

  absl::StatusOr<NodeRecord> got = reopened->Get("n");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(got->roles, ElementsAre("admin", "reader"));
}

TEST_P(NodeStoreTest, WriteThroughOneInstanceIsSeenAndCountedByAnother) {
  std::unique_ptr<NodeStore> other = Open().nodes;
  uint64_t before = other->Generation().value();
  ASSERT_TRUE(store_->Create(Node("n")).ok());
  ASSERT_TRUE(store_->SetEnabled("n", false).ok());

  absl::StatusOr<NodeRecord> seen = other->Get("n");

  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_FALSE(seen->enabled);
  EXPECT_NE(other->Generation().value(), before);
}

TEST(NodeStoreFactoryTest, RefusesNullDatabase) {
  EXPECT_EQ(OpenSqliteNodeStore(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenPostgresNodeStore(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(NodeStoreTest, KeyFieldsKeepAnyBytes) {
  // The store keeps what callers give it; crypto/ decides what a key is.
  NodeRecord n = Node("n");
  n.algorithm = std::string("alg\xff\0", 5);
  n.public_key_pem = std::string("\0\x80PEM\xfe", 6);
  n.cert_serial = std::string("\xff", 1);
  ASSERT_TRUE(store_->Create(n).ok());
  absl::StatusOr<NodeRecord> got = store_->Get("n");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->algorithm, n.algorithm);
  EXPECT_EQ(got->public_key_pem, n.public_key_pem);
  EXPECT_EQ(got->cert_serial, n.cert_serial);
}

}  // namespace
}  // namespace nodegate::store
