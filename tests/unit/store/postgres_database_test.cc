// What only the PostgreSQL backend has: its url rules, the pool, statement timeouts, migrations
// raced by replicas, and reconnecting after the server dropped its connections. Runs on the test
// process's real PostgreSQL (testlib/postgres_server.h).
#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "store/postgres/pg_database.h"
#include "store/postgres/pg_migrations.h"
#include "store/postgres/postgres_stores.h"
#include "store/store_factory.h"
#include "testlib/postgres_server.h"

namespace nodegate::store {
namespace {

using ::nodegate::testlib::PostgresServer;

class PostgresDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<PostgresServer*> server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    absl::StatusOr<std::string> url = server_->NewDatabaseUrl();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
  }

  // A plain connection to the test's database, to look at what the stores wrote.
  std::unique_ptr<PgConnection> Inspect() {
    absl::StatusOr<PgConnectParams> params = ConnectParamsFromUrl(url_, PgSessionLimits());
    EXPECT_TRUE(params.ok()) << params.status();
    absl::StatusOr<std::unique_ptr<PgConnection>> c = PgConnection::Connect(*params);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  PostgresServer* server_ = nullptr;
  std::string url_;
};

TEST_F(PostgresDatabaseTest, ReplicasStartingTogetherApplyEachMigrationOnce) {
  constexpr int kReplicas = 6;
  std::vector<absl::Status> results(kReplicas);
  std::vector<int> versions(kReplicas, -1);
  std::vector<std::thread> threads;
  threads.reserve(kReplicas);
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::shared_ptr<PgDatabase>> db = PgDatabase::Open(url_);
      results[i] = db.status();
      if (db.ok()) versions[i] = (*db)->schema_version();
    });
  }
  for (std::thread& t : threads) t.join();

  const int latest = PgMigrations().back().version;
  for (int i = 0; i < kReplicas; ++i) {
    EXPECT_TRUE(results[i].ok()) << results[i];
    EXPECT_EQ(versions[i], latest);
  }
  std::unique_ptr<PgConnection> c = Inspect();
  ASSERT_NE(c, nullptr);
  absl::StatusOr<PgResult> applied =
      c->Execute("SELECT count(*), count(DISTINCT version) FROM schema_migrations");
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->Int(0, 0), static_cast<int64_t>(PgMigrations().size()));
  EXPECT_EQ(applied->Int(0, 1), static_cast<int64_t>(PgMigrations().size()));
}

TEST_F(PostgresDatabaseTest, RefusesSchemaNewerThanCode) {
  ASSERT_TRUE(PgDatabase::Open(url_).ok());
  std::unique_ptr<PgConnection> c = Inspect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)").ok());

  absl::StatusOr<std::shared_ptr<PgDatabase>> db = PgDatabase::Open(url_);

  EXPECT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(db.status().message().find("999"), std::string::npos) << db.status();
}

TEST_F(PostgresDatabaseTest, UnreachableServerIsUnavailableNamingTheTarget) {
  PgDatabase::Options options;
  options.limits.connect_timeout = absl::Seconds(2);
  // Port 1 on loopback: nothing listens there.
  absl::StatusOr<std::shared_ptr<PgDatabase>> db =
      PgDatabase::Open("host=127.0.0.1 port=1 dbname=nodegate user=nodegate", options);
  EXPECT_EQ(db.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(db.status().message().find("127.0.0.1"), std::string::npos) << db.status();
}

TEST_F(PostgresDatabaseTest, PasswordInUrlIsRefusedWithoutEchoingIt) {
  for (const char* url : {"host=127.0.0.1 user=nodegate password=hunter2-secret",
                          "postgresql://nodegate:hunter2-secret@127.0.0.1/nodegate"}) {
    absl::StatusOr<std::shared_ptr<PgDatabase>> db = PgDatabase::Open(url);
    EXPECT_EQ(db.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_EQ(db.status().message().find("hunter2"), std::string::npos) << db.status();
    EXPECT_NE(db.status().message().find("PGPASSFILE"), std::string::npos) << db.status();
    EXPECT_EQ(ValidatePostgresUrl(url).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(PostgresDatabaseTest, MalformedUrlErrorNeverQuotesAPassword) {
  // libpq's own messages for these quote the URI or the undecodable token (the password).
  for (const char* url :
       {"postgresql://ng:p%zzhunter2@127.0.0.1/nodegate", "postgresql://ng:hunter2@[::1/nodegate",
        "host=127.0.0.1 password=hunter2 junk",
        // A dbname that is a connection string: the server would quote it back.
        "host=127.0.0.1 dbname='postgresql://ng:hunter2@db/x'",
        "host=127.0.0.1 dbname='user=ng password=hunter2'"}) {
    absl::Status s = ValidatePostgresUrl(url);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_EQ(s.message().find("hunter2"), std::string::npos) << s;
  }
}

TEST_F(PostgresDatabaseTest, MalformedUrlIsInvalidArgument) {
  EXPECT_EQ(ValidatePostgresUrl("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidatePostgresUrl("host=a nonsense").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidatePostgresUrl("no_such_option=1").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidatePostgresUrl("host=db.example dbname=nodegate passfile=/etc/pgpass").ok());
}

TEST_F(PostgresDatabaseTest, SlowStatementIsCancelledAsDeadlineExceeded) {
  PgDatabase::Options options;
  options.limits.statement_timeout = absl::Milliseconds(200);
  absl::StatusOr<std::shared_ptr<PgDatabase>> db = PgDatabase::Open(url_, options);
  ASSERT_TRUE(db.ok()) << db.status();
  const absl::Time start = absl::Now();

  absl::Status slow = (*db)->Write(
      [](PgConnection& c) -> absl::Status { return c.Execute("SELECT pg_sleep(5)").status(); });

  EXPECT_EQ(slow.code(), absl::StatusCode::kDeadlineExceeded) << slow;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The pool is still usable afterwards.
  EXPECT_TRUE((*db)->Read([](PgConnection& c) { return c.Execute("SELECT 1").status(); }).ok());
}

TEST_F(PostgresDatabaseTest, AcquireGivesUpWhenEveryConnectionIsBusy) {
  PgDatabase::Options options;
  options.max_connections = 1;
  options.acquire_timeout = absl::Milliseconds(100);
  absl::StatusOr<std::shared_ptr<PgDatabase>> db = PgDatabase::Open(url_, options);
  ASSERT_TRUE(db.ok()) << db.status();

  absl::Status inner;
  absl::Status outer = (*db)->Write([&](PgConnection&) -> absl::Status {
    // The only connection is ours: a second caller waits acquire_timeout, then gives up.
    inner = (*db)->Read([](PgConnection& c) { return c.Execute("SELECT 1").status(); });
    return absl::OkStatus();
  });

  EXPECT_TRUE(outer.ok()) << outer;
  EXPECT_EQ(inner.code(), absl::StatusCode::kUnavailable) << inner;
  EXPECT_NE(inner.message().find("busy"), std::string::npos) << inner;
}

TEST_F(PostgresDatabaseTest, StoresReconnectAfterTheServerDroppedTheirConnections) {
  absl::StatusOr<Stores> stores = OpenPostgresStores(url_);
  ASSERT_TRUE(stores.ok()) << stores.status();
  ASSERT_TRUE(stores->kv->Set("before", "1", "").ok());
  ASSERT_TRUE(stores->kv->Get("before").ok());
  std::unique_ptr<PgConnection> admin = Inspect();
  ASSERT_NE(admin, nullptr);

  // What a database restart or failover does to every pooled connection.
  absl::StatusOr<PgResult> killed = admin->Execute(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE application_name = 'nodegate' AND pid <> pg_backend_pid()");
  ASSERT_TRUE(killed.ok()) << killed.status();
  ASSERT_GE(killed->Int(0, 0), 1);

  EXPECT_TRUE(stores->kv->Set("after", "2", "").ok());
  EXPECT_EQ(stores->kv->Get("before")->value, "1");
  EXPECT_TRUE(stores->nodes->List(10, "").ok());
}

// Its own server, as this one is stopped and started again.
TEST(PostgresRestartTest, StoresAreUnavailableWhileTheServerIsDownAndRecoverWithoutReopening) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> server = PostgresServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::string> url = (*server)->NewDatabaseUrl();
  ASSERT_TRUE(url.ok()) << url.status();
  absl::StatusOr<Stores> stores = OpenPostgresStores(*url);
  ASSERT_TRUE(stores.ok()) << stores.status();
  ASSERT_TRUE(stores->kv->Set("k", "acknowledged", "").ok());
  const uint64_t generation = stores->credentials->Generation().value();

  (*server)->Stop();

  absl::Status down = stores->kv->Get("k").status();
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_NE(down.message().find("127.0.0.1"), std::string::npos) << down;
  EXPECT_EQ(stores->kv->Set("k2", "v", "").code(), absl::StatusCode::kUnavailable);
  // A cache polling the counter learns that nothing is known, rather than a value to compare.
  EXPECT_EQ(stores->credentials->Generation().status().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE((*server)->Restart().ok());

  // The counter's own connection comes back too, at the value it had (nothing was written).
  absl::StatusOr<uint64_t> again = stores->credentials->Generation();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, generation);

  absl::StatusOr<KvEntry> back = stores->kv->Get("k");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->value, "acknowledged");
  EXPECT_TRUE(stores->kv->Set("k2", "v", "").ok());
}

}  // namespace
}  // namespace nodegate::store
