// What a node publishes about its credential snapshot: the age gauge, the refresh-failure counter
// and /readyz's verdict and fields, over a real PostgreSQL that is stopped and started again
// (issue 14: a replica keeps deciding from its last good snapshot, for a bounded time).
#include "server/credential_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "auth/credential_admin.h"
#include "auth/credential_cache.h"
#include "auth/store_credential_source.h"
#include "observe/metrics.h"
#include "store/postgres/postgres_stores.h"
#include "testlib/manual_clock.h"
#include "testlib/postgres_server.h"
#include "testlib/status.h"

namespace nodegate::server {
namespace {

using ::nodegate::testlib::ManualClock;
using ::nodegate::testlib::PostgresServer;
using ::nodegate::testlib::Unwrap;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST(CredentialMetricsTest, ExposesAgeBoundAndFailuresAtScrapeTime) {
  // Computed when rendered: the age is whatever the cache's clock says at scrape time.
  class Fixed : public auth::CredentialSource {
   public:
    absl::StatusOr<uint64_t> Generation() override { return 1; }
    absl::StatusOr<auth::CredentialSnapshot> Load() override { return auth::CredentialSnapshot(); }
  };
  ManualClock clock;
  auto cache = Unwrap(auth::CredentialCache::Start(std::make_shared<Fixed>(), absl::ZeroDuration(),
                                                   clock, absl::Seconds(60)));
  observe::Metrics metrics({});
  RegisterCredentialMetrics(metrics, cache.get());
  clock.Advance(absl::Milliseconds(250));
  std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("# TYPE nodegate_credential_snapshot_age_seconds gauge\n"
                              "nodegate_credential_snapshot_age_seconds 0.25\n"));
  EXPECT_THAT(text, HasSubstr("nodegate_credential_max_age_seconds 60\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE nodegate_credential_refresh_failures_total counter\n"
                              "nodegate_credential_refresh_failures_total 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE nodegate_credential_generation gauge\n"
                              "nodegate_credential_generation 1\n"));
  EXPECT_THAT(CredentialReadyDetails(*cache),
              UnorderedElementsAre(Pair("credential_snapshot_age_seconds", 0.25),
                                   Pair("credential_max_age_seconds", 60.0),
                                   Pair("credential_generation", 1.0)));
}

// Its own server, as it is stopped and started again.
TEST(CredentialMetricsPostgresTest, StoppedDatabaseAgesTheSnapshotUntilItComesBack) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> server = PostgresServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  std::string url = Unwrap((*server)->NewDatabaseUrl());
  store::Stores stores = Unwrap(store::OpenPostgresStores(url));
  std::shared_ptr<store::NodeStore> nodes = std::move(stores.nodes);
  std::shared_ptr<store::CredentialStore> credentials = std::move(stores.credentials);
  ASSERT_TRUE(auth::IssueAccessToken(*credentials, "alice", "user", {}, absl::ZeroDuration()).ok());
  ManualClock clock;
  auto cache = Unwrap(auth::CredentialCache::Start(
      std::make_shared<auth::StoreCredentialSource>(nodes, credentials), absl::ZeroDuration(),
      clock, absl::Seconds(60)));
  observe::Metrics metrics({});
  RegisterCredentialMetrics(metrics, cache.get());
  ASSERT_TRUE(cache->Refresh().ok());
  EXPECT_THAT(metrics.RenderPrometheus(),
              HasSubstr("nodegate_credential_snapshot_age_seconds 0\n"));

  (*server)->Stop();
  clock.Advance(absl::Seconds(30));
  absl::Status down = cache->Refresh();
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_THAT(metrics.RenderPrometheus(),
              HasSubstr("nodegate_credential_snapshot_age_seconds 30\n"));
  EXPECT_TRUE(cache->CheckFresh().ok());            // /readyz: still within the bound
  EXPECT_EQ(cache->snapshot()->tokens.size(), 1u);  // the last good snapshot keeps deciding

  clock.Advance(absl::Seconds(31));
  EXPECT_FALSE(cache->Refresh().ok());
  std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("nodegate_credential_snapshot_age_seconds 61\n"));
  EXPECT_THAT(text, HasSubstr("nodegate_credential_refresh_failures_total 2\n"));
  absl::Status stale = cache->CheckFresh();  // what /readyz answers 503 with
  EXPECT_EQ(stale.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(stale.message(), HasSubstr("snapshot is 1m1s old"));
  EXPECT_THAT(stale.message(), HasSubstr("auth.credential_max_age (1m)"));

  // The database returns: the next refresh reconnects by itself, with nothing reopened.
  ASSERT_TRUE((*server)->Restart().ok());
  absl::Status back = cache->Refresh();
  ASSERT_TRUE(back.ok()) << back;
  EXPECT_THAT(metrics.RenderPrometheus(),
              HasSubstr("nodegate_credential_snapshot_age_seconds 0\n"));
  EXPECT_TRUE(cache->CheckFresh().ok());
}

}  // namespace
}  // namespace nodegate::server
