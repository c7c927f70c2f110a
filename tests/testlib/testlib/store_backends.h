// The store contract tests run once per backend: a value-parametrised fixture whose parameter is
// the backend, and which hands each test a fresh database of it (a SQLite file in a scratch
// directory, or a schema of its own on the test process's PostgreSQL, testlib/postgres_server.h).
#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "store/store_factory.h"
#include "testlib/temp_dir.h"

namespace nodegate::testlib {

using StoreBackend = store::StoreConfig::Backend;

// Both backends, for INSTANTIATE_TEST_SUITE_P.
inline auto AllStoreBackends() {
  return ::testing::Values(StoreBackend::kSqlite, StoreBackend::kPostgres);
}
// "Sqlite" / "Postgres": the suffix of each parametrised test's name.
std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info);

class StoreBackendTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  // Makes the fresh database (fails the test, naming scripts/install-deps, if PostgreSQL cannot
  // be started).
  void SetUp() override;

  // Opens every store on this test's database. Each call is another instance on the same
  // database, as another process (SQLite) or another replica (PostgreSQL) would be.
  store::Stores Open(store::KvLimits kv_limits = store::KvLimits()) const;

  bool postgres() const { return GetParam() == StoreBackend::kPostgres; }
  const store::StoreConfig& config() const { return config_; }

  ScopedTempDir dir_;  // first: removed after every store closes
  store::StoreConfig config_;
};

}  // namespace nodegate::testlib

namespace nodegate::store {
// gtest prints a test's parameter in its name (ctest shows "GetParam() = postgres").
inline void PrintTo(StoreConfig::Backend backend, std::ostream* os) { *os << BackendName(backend); }
}  // namespace nodegate::store
