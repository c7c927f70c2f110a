// What only the PostgreSQL backend has: its url rules, the pool, statement timeouts, migrations
// raced by replicas, and reconnecting after the server dropped its connections. Runs on the test
// process's real PostgreSQL (testlib/postgres_server.h).
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/postgres/pg_database.h"
#include "store/postgres/pg_migrations.h"
#include "store/postgres/postgres_stores.h"
#include "store/store_factory.h"
#include "testlib/postgres_server.h"

namespace nodegate::store {
namespace {

using ::nodegate::testlib::PostgresServer;
using ::testing::HasSubstr;
using ::testing::StartsWith;

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

PgDatabase::Options ForNode(std::string node_id) {
  PgDatabase::Options options;
  options.node_id = std::move(node_id);
  return options;
}

TEST_F(PostgresDatabaseTest, FirstOpenForANodeRecordsItsIdAndItsReplicasOpenAgain) {
  ASSERT_TRUE(PgDatabase::Open(url_, ForNode("alpha")).ok());

  absl::StatusOr<std::shared_ptr<PgDatabase>> replica = PgDatabase::Open(url_, ForNode("alpha"));

  EXPECT_TRUE(replica.ok()) << replica.status();
  std::unique_ptr<PgConnection> c = Inspect();
  ASSERT_NE(c, nullptr);
  absl::StatusOr<PgResult> owner = c->Execute("SELECT node_id FROM database_owner");
  ASSERT_TRUE(owner.ok()) << owner.status();
  ASSERT_EQ(owner->rows(), 1);
  EXPECT_EQ(owner->Bytes(0, 0), "alpha");
}

TEST_F(PostgresDatabaseTest, RefusesAReplicaWhoseNodeIdDiffersNamingBothIdsTheDatabaseAndTheFix) {
  ASSERT_TRUE(PgDatabase::Open(url_, ForNode("alpha")).ok());

  absl::StatusOr<std::shared_ptr<PgDatabase>> other = PgDatabase::Open(url_, ForNode("beta"));

  ASSERT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition) << other.status();
  const std::string message(other.status().message());
  EXPECT_THAT(message, HasSubstr("belongs to node 'alpha', not to node.id 'beta'"));
  EXPECT_THAT(message, HasSubstr(absl::StrCat("127.0.0.1:", server_->port(), "/postgres")));
  EXPECT_THAT(message, HasSubstr("(schema t"));  // the harness gives each test its own schema
  EXPECT_THAT(message, HasSubstr("set node.id = \"alpha\""));
  EXPECT_THAT(message, HasSubstr("another database"));
  // The database still belongs to alpha, whose replicas still open it.
  EXPECT_TRUE(PgDatabase::Open(url_, ForNode("alpha")).ok());
}

TEST_F(PostgresDatabaseTest, OfTwoNodesClaimingAFreshDatabaseAtOnceExactlyOneWins) {
  constexpr int kReplicas = 8;  // four of each node, started together
  std::vector<absl::Status> results(kReplicas);
  std::vector<std::thread> threads;
  threads.reserve(kReplicas);
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      results[i] = PgDatabase::Open(url_, ForNode(i % 2 == 0 ? "even" : "odd")).status();
    });
  }
  for (std::thread& t : threads) t.join();

  std::unique_ptr<PgConnection> c = Inspect();
  ASSERT_NE(c, nullptr);
  absl::StatusOr<PgResult> owner = c->Execute("SELECT node_id FROM database_owner");
  ASSERT_TRUE(owner.ok()) << owner.status();
  ASSERT_EQ(owner->rows(), 1);
  const std::string winner = owner->Bytes(0, 0);
  for (int i = 0; i < kReplicas; ++i) {
    const bool same_node = (i % 2 == 0 ? "even" : "odd") == winner;
    EXPECT_EQ(results[i].code(),
              same_node ? absl::StatusCode::kOk : absl::StatusCode::kFailedPrecondition)
        << i << ": " << results[i];
  }
}

TEST_F(PostgresDatabaseTest, OpeningWithoutANodeIdLeavesTheDatabaseUnclaimed) {
  ASSERT_TRUE(PgDatabase::Open(url_).ok());

  EXPECT_TRUE(PgDatabase::Open(url_, ForNode("gamma")).ok());
  EXPECT_EQ(PgDatabase::Open(url_, ForNode("delta")).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PostgresDatabaseTest, ADatabaseMigratedBeforeOwnersExistIsClaimedOnTheNextStart) {
  // What a database of the first PostgreSQL release looks like: schema version 1, data, no owner.
  {
    std::unique_ptr<PgConnection> c = Inspect();
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Exec("BEGIN").ok());
    ASSERT_TRUE(c->Exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                        "applied_at BIGINT NOT NULL)")
                    .ok());
    ASSERT_TRUE(c->Exec(PgMigrations()[0].sql).ok());
    ASSERT_TRUE(c->Exec("INSERT INTO schema_migrations VALUES (1, 0)").ok());
    ASSERT_TRUE(
        c->Exec("INSERT INTO kv VALUES ('\\x6b'::bytea, '\\x76'::bytea, ''::bytea, 0)").ok());
    ASSERT_TRUE(c->Exec("COMMIT").ok());
  }

  absl::StatusOr<std::shared_ptr<PgDatabase>> db = PgDatabase::Open(url_, ForNode("alpha"));

  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->schema_version(), PgMigrations().back().version);
  EXPECT_EQ(PgDatabase::Open(url_, ForNode("beta")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<Stores> stores = OpenPostgresStores(url_);
  ASSERT_TRUE(stores.ok()) << stores.status();
  EXPECT_EQ(stores->kv->Get("k")->value, "v");
}

TEST_F(PostgresDatabaseTest, TheFactoryRefusesAnotherNodeUnderTheStoreUrlField) {
  StoreConfig config;
  config.backend = StoreConfig::Backend::kPostgres;
  config.url = url_;
  config.node_id = "alpha";
  ASSERT_TRUE(OpenStores(config).ok());
  config.node_id = "beta";

  absl::Status refused = OpenStores(config).status();

  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), StartsWith("store.url: database "));
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

// A quiet database restart: the pool holds several idle connections, all of which the server
// dropped, and no call noticed meanwhile. The database is up again, so the very next call must
// be served, not fail on the stale connections one after another.
TEST_F(PostgresDatabaseTest, FirstCallAfterEveryPooledConnectionWasDroppedSucceeds) {
  PgDatabase::Options options;
  options.max_connections = 4;
  absl::StatusOr<std::shared_ptr<PgDatabase>> db = PgDatabase::Open(url_, options);
  ASSERT_TRUE(db.ok()) << db.status();
  std::unique_ptr<PgConnection> admin = Inspect();
  ASSERT_NE(admin, nullptr);
  auto select = [](PgConnection& c) { return c.Execute("SELECT 1").status(); };
  // Opens max_connections at once (nested), leaves them idle in the pool, and has the server
  // end them all.
  std::function<absl::Status(int)> hold = [&](int depth) -> absl::Status {
    if (depth == 0) return absl::OkStatus();
    return (*db)->Read([&](PgConnection& c) -> absl::Status {
      if (absl::Status s = select(c); !s.ok()) return s;
      return hold(depth - 1);
    });
  };
  auto fill_and_drop_the_pool = [&] {
    ASSERT_TRUE(hold(options.max_connections).ok());
    absl::StatusOr<PgResult> killed = admin->Execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'nodegate' AND pid <> pg_backend_pid()");
    ASSERT_TRUE(killed.ok()) << killed.status();
    ASSERT_EQ(killed->Int(0, 0), options.max_connections);
  };

  fill_and_drop_the_pool();
  absl::Status write = (*db)->Write(select);
  fill_and_drop_the_pool();
  absl::Status read = (*db)->Read(select);

  EXPECT_TRUE(write.ok()) << write;
  EXPECT_TRUE(read.ok()) << read;
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
