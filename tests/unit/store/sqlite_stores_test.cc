#include "store/sqlite/sqlite_stores.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "gtest/gtest.h"
#include "testlib/stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::store {
namespace {

KvLimits WithLimit(int64_t KvLimits::*field, int64_t value) {
  KvLimits limits;
  limits.*field = value;
  return limits;
}

using ::nodegate::testlib::Hash;

TEST(SqliteStoresTest, OpensEveryStoreOnOneFile) {
  ::nodegate::testlib::ScopedTempDir dir;
  absl::StatusOr<Stores> stores = OpenSqliteStores(dir.File("nodegate.db"));
  ASSERT_TRUE(stores.ok()) << stores.status();
  EXPECT_NE(stores->database, nullptr);
  EXPECT_NE(stores->nodes, nullptr);
  EXPECT_NE(stores->credentials, nullptr);
  EXPECT_NE(stores->kv, nullptr);
  EXPECT_NE(stores->leases, nullptr);
}

TEST(SqliteStoresTest, RefusesBadKvLimits) {
  ::nodegate::testlib::ScopedTempDir dir;
  EXPECT_EQ(OpenSqliteStores(dir.File("nodegate.db"), WithLimit(&KvLimits::max_value_bytes, 0))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SqliteStoresTest, EverythingSurvivesCloseAndReopen) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  {
    Stores s = *OpenSqliteStores(path);
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
  Stores s = *OpenSqliteStores(path);
  EXPECT_TRUE(s.nodes->Get("n").ok());
  EXPECT_TRUE(s.credentials->FindAccessTokenByHash(Hash('1')).ok());
  EXPECT_EQ(s.kv->Get("k")->value, "v");
  EXPECT_EQ(s.leases->Get("j")->port, 9000);
}

// A child process writes and reports each acknowledged Set through a pipe; the parent kills it
// with SIGKILL mid-stream and checks every acknowledged key is in the file.
TEST(SqliteStoresTest, AcknowledgedSetSurvivesKillDashNine) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  ASSERT_TRUE(OpenSqliteStores(path).ok());  // migrate before forking
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    absl::StatusOr<Stores> s = OpenSqliteStores(path);
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

  Stores s = *OpenSqliteStores(path);
  int found = 0;
  for (int k = 0; k <= last; ++k) {
    if (s.kv->Get("key-" + std::to_string(k)).ok()) ++found;
  }
  EXPECT_EQ(found, last + 1) << "acknowledged " << last + 1 << ", found " << found;
}

}  // namespace
}  // namespace nodegate::store
