#include "testlib/store_backends.h"

#include "testlib/postgres_server.h"
#include "testlib/status.h"

namespace nodegate::testlib {

std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param == StoreBackend::kPostgres ? "Postgres" : "Sqlite";
}

void StoreBackendTest::SetUp() {
  config_.backend = GetParam();
  if (GetParam() == StoreBackend::kSqlite) {
    config_.path = dir_.File("nodegate.db");
    return;
  }
  absl::StatusOr<PostgresServer*> server = PostgresServer::Shared();
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::string> url = (*server)->NewDatabaseUrl();
  ASSERT_TRUE(url.ok()) << url.status();
  config_.url = *std::move(url);
}

store::Stores StoreBackendTest::Open(store::KvLimits kv_limits) const {
  return Unwrap(store::OpenStores(config_, kv_limits));
}

}  // namespace nodegate::testlib
