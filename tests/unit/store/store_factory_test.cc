#include "store/store_factory.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "gtest/gtest.h"
#include "testlib/store_backends.h"
#include "testlib/stores.h"

namespace nodegate::store {
namespace {

KvLimits WithLimit(int64_t KvLimits::*field, int64_t value) {
  KvLimits limits;
  limits.*field = value;
  return limits;
}

using ::nodegate::testlib::Hash;

// OpenStores on each backend (testlib/store_backends.h).
class StoreFactoryTest : public ::nodegate::testlib::StoreBackendTest {};

INSTANTIATE_TEST_SUITE_P(Backends, StoreFactoryTest, ::nodegate::testlib::AllStoreBackends(),
                         ::nodegate::testlib::StoreBackendName);

TEST_P(StoreFactoryTest, OpensEveryStoreOnOneDatabase) {
  absl::StatusOr<Stores> stores = OpenStores(config());
  ASSERT_TRUE(stores.ok()) << stores.status();
  EXPECT_NE(stores->nodes, nullptr);
  EXPECT_NE(stores->credentials, nullptr);
  EXPECT_NE(stores->kv, nullptr);
  EXPECT_NE(stores->leases, nullptr);
}

TEST_P(StoreFactoryTest, RefusesBadKvLimits) {
  EXPECT_EQ(OpenStores(config(), WithLimit(&KvLimits::max_value_bytes, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreFactoryTest, ErrorsNameTheConfigField) {
  StoreConfig broken = config();
  broken.path = dir_.File("no/such/dir/x.db");
  broken.url = "host=127.0.0.1 port=1 connect_timeout=2";
  absl::Status s = OpenStores(broken).status();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().substr(0, 11), postgres() ? "store.url: " : "store.path:") << s;
}

// PostgreSQL: the database is shared by replicas and belongs to one node id (the postgres
// database tests cover the refusal in detail). SQLite: the file is one host's, under its data_dir,
// and a lone node may be renamed over its old data, so the id is not recorded.
TEST_P(StoreFactoryTest, OnlyASharedDatabaseIsBoundToTheFirstNodeId) {
  StoreConfig first = config();
  first.node_id = "alpha";
  ASSERT_TRUE(OpenStores(first).ok());
  StoreConfig other = config();
  other.node_id = "beta";

  absl::Status s = OpenStores(other).status();

  if (postgres()) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_NE(s.message().find("node 'alpha', not to node.id 'beta'"), std::string::npos) << s;
  } else {
    EXPECT_TRUE(s.ok()) << s;
  }
}

TEST_P(StoreFactoryTest, EverythingSurvivesCloseAndReopen) {
  {
    Stores s = Open();
    NodeRecord node;
    node.id = "n";
    node.algorithm = "ed25519";
    node.public_key_pem = "PEM";
    ASSERT_TRUE(s.nodes->Create(node).ok());
    AccessToken token;
    token.token_hash = Hash('1');
    token.principal = "p";
    token.kind = "app";
    ASSERT_TRUE(s.credentials->CreateAccessToken(token).ok());
    ASSERT_TRUE(s.kv->Set("k", "v", "").ok());
    ASSERT_TRUE(s.leases
                    ->Acquire("j", "node:a", 9000, 9001, absl::Hours(1), absl::Now(),
                              [](int) { return true; })
                    .ok());
  }
  Stores s = Open();
  EXPECT_TRUE(s.nodes->Get("n").ok());
  EXPECT_TRUE(s.credentials->FindAccessTokenByHash(Hash('1')).ok());
  EXPECT_EQ(s.kv->Get("k")->value, "v");
  EXPECT_EQ(s.leases->Get("j")->port, 9000);
}

// A child process writes and reports each acknowledged Set through a pipe; the parent kills it
// with SIGKILL mid-stream and checks every acknowledged key is in the database.
TEST_P(StoreFactoryTest, AcknowledgedSetSurvivesKillDashNine) {
  ASSERT_TRUE(OpenStores(config()).ok());  // migrate before forking
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    absl::StatusOr<Stores> s = OpenStores(config());
    if (!s.ok()) _exit(2);
    for (int i = 0;; ++i) {
      if (!s->kv->Set("key-" + std::to_string(i), std::string(100, 'x'), "").ok()) _exit(3);
      if (write(fds[1], &i, sizeof i) != sizeof i) _exit(4);
    }
  }
  close(fds[1]);
  int last = -1;
  int acked = 0;
  while (acked < 50 && read(fds[0], &last, sizeof last) == sizeof last) ++acked;
  kill(child, SIGKILL);
  // Drain acknowledgements sent before the kill landed.
  int i;
  while (read(fds[0], &i, sizeof i) == sizeof i) last = i;
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
  ASSERT_GE(last, 49);

  Stores s = Open();
  int found = 0;
  for (int k = 0; k <= last; ++k) {
    if (s.kv->Get("key-" + std::to_string(k)).ok()) ++found;
  }
  EXPECT_EQ(found, last + 1) << "acknowledged " << last + 1 << ", found " << found;
}

}  // namespace
}  // namespace nodegate::store
