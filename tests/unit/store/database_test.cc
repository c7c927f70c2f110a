#include "store/sqlite/database.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>

#include "gtest/gtest.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/sqlite_node_store.h"
#include "testlib/temp_dir.h"

namespace nodegate::store {
namespace {

// Runs one statement on the file through a separate raw connection, as another tool would.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

int64_t RawCount(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

int LatestVersion() { return Migrations().back().version; }

TEST(DatabaseTest, FreshFileGetsEveryMigration) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  absl::StatusOr<std::shared_ptr<Database>> db = Database::Open(path);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->schema_version(), LatestVersion());
  EXPECT_EQ(RawCount(path, "SELECT COUNT(*) FROM schema_migrations"),
            static_cast<int64_t>(Migrations().size()));
}

TEST(DatabaseTest, MigrationsAreOrderedFromOne) {
  int expected = 1;
  for (const Migration& m : Migrations()) EXPECT_EQ(m.version, expected++);
}

TEST(DatabaseTest, ReopenAppliesNothingTwice) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  ASSERT_TRUE(Database::Open(path).ok());
  absl::StatusOr<std::shared_ptr<Database>> again = Database::Open(path);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->schema_version(), LatestVersion());
  EXPECT_EQ(RawCount(path, "SELECT COUNT(*) FROM schema_migrations"),
            static_cast<int64_t>(Migrations().size()));
}

TEST(DatabaseTest, UsesWalJournal) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  ASSERT_TRUE(Database::Open(path).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(DatabaseTest, CreatesFilePrivateToOwner) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  ASSERT_TRUE(Database::Open(path).ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(DatabaseTest, RefusesSchemaNewerThanCodeNamingTheFile) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  ASSERT_TRUE(Database::Open(path).ok());
  RawExec(path, "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)");

  absl::StatusOr<std::shared_ptr<Database>> db = Database::Open(path);

  ASSERT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition) << db.status();
  EXPECT_NE(db.status().message().find(path), std::string::npos);
  EXPECT_NE(db.status().message().find("999"), std::string::npos);
}

TEST(DatabaseTest, RefusesFileThatIsNotADatabase) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  std::ofstream(path) << "this is not an SQLite database, just some text that is long enough";

  absl::StatusOr<std::shared_ptr<Database>> db = Database::Open(path);

  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status();
}

TEST(DatabaseTest, RefusesInMemoryDatabase) {
  EXPECT_EQ(Database::Open(":memory:").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Database::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DatabaseTest, RefusesPathInMissingDirectory) {
  ::nodegate::testlib::ScopedTempDir dir;
  absl::StatusOr<std::shared_ptr<Database>> db = Database::Open(dir.path() + "/no/such/dir/x.db");
  EXPECT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition) << db.status();
}

TEST(DatabaseTest, FailedWriteBodyRollsBack) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  std::shared_ptr<Database> db = *Database::Open(path);

  absl::Status s = db->Write([](Connection& c) -> absl::Status {
    if (absl::Status e = c.Exec("INSERT INTO kv VALUES (x'61', x'62', '', 0)"); !e.ok()) return e;
    return absl::AbortedError("changed my mind");
  });

  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(RawCount(path, "SELECT COUNT(*) FROM kv"), 0);
  // The connection is usable again: no transaction was left open.
  EXPECT_TRUE(db->Write([](Connection& c) { return c.Exec("DELETE FROM kv"); }).ok());
}

TEST(DatabaseTest, GenerationSeesCommitsOfAnotherDatabaseObject) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  std::shared_ptr<Database> a = *Database::Open(path);
  std::shared_ptr<Database> b = *Database::Open(path);
  std::unique_ptr<NodeStore> nodes_b = *OpenSqliteNodeStore(b);
  uint64_t before = a->Generation("nodes").value();

  NodeRecord node;
  node.id = "n1";
  node.algorithm = "ed25519";
  node.public_key_pem = "PEM";
  ASSERT_TRUE(nodes_b->Create(node).ok());

  EXPECT_NE(a->Generation("nodes").value(), before);
}

TEST(DatabaseTest, GenerationSeesCommitsOfAnotherProcessTool) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::string path = dir.File("nodegate.db");
  std::shared_ptr<Database> db = *Database::Open(path);
  uint64_t before = db->Generation("credentials").value();

  RawExec(path, "UPDATE store_generation SET value = value + 1 WHERE name = 'credentials'");

  EXPECT_NE(db->Generation("credentials").value(), before);
}

TEST(DatabaseTest, GenerationIsStableWithoutWrites) {
  ::nodegate::testlib::ScopedTempDir dir;
  std::shared_ptr<Database> db = *Database::Open(dir.File("nodegate.db"));
  uint64_t first = db->Generation("nodes").value();
  EXPECT_EQ(db->Generation("nodes").value(), first);
}

}  // namespace
}  // namespace nodegate::store
