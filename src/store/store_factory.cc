#include "store/store_factory.h"

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/postgres_stores.h"
#include "store/sqlite/sqlite_stores.h"

namespace nodegate::store {

absl::Status ValidatePostgresUrl(std::string_view url) {
  return ConnectParamsFromUrl(url, PgSessionLimits()).status();
}

const char* BackendName(StoreConfig::Backend backend) {
  return backend == StoreConfig::Backend::kPostgres ? "postgres" : "sqlite";
}

absl::StatusOr<Stores> OpenStores(const StoreConfig& config, KvLimits kv_limits) {
  const bool postgres = config.backend == StoreConfig::Backend::kPostgres;
  PgDatabase::Options options;
  options.max_connections = config.postgres.pool_size;
  options.acquire_timeout = config.postgres.acquire_timeout;
  options.limits.statement_timeout = config.postgres.statement_timeout;
  options.limits.connect_timeout = config.postgres.connect_timeout;
  options.node_id = config.node_id;
  absl::StatusOr<Stores> stores = postgres ? OpenPostgresStores(config.url, kv_limits, options)
                                           : OpenSqliteStores(config.path, kv_limits);
  if (!stores.ok()) {
    return absl::Status(
        stores.status().code(),
        absl::StrCat(postgres ? "store.url: " : "store.path: ", stores.status().message()));
  }
  return stores;
}

namespace {

absl::Status ProbeSqlite(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    // Created at start: the nearest existing directory above it must let us write.
    std::filesystem::path dir = std::filesystem::absolute(path, ec).parent_path();
    while (!dir.empty() && !std::filesystem::exists(dir, ec) && dir != dir.root_path()) {
      dir = dir.parent_path();
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      return absl::PermissionDeniedError(absl::StrCat(
          path, " does not exist and cannot be created: ", dir.string(), " is not writable"));
    }
    return absl::OkStatus();
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
  if (rc != SQLITE_OK) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot open: ", raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db.get(), 2000);
  sqlite3_stmt* raw_stmt = nullptr;
  rc = sqlite3_prepare_v2(db.get(), "PRAGMA quick_check", -1, &raw_stmt, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw_stmt, sqlite3_finalize);
  if (rc != SQLITE_OK || sqlite3_step(stmt.get()) != SQLITE_ROW) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": not a readable SQLite database: ", sqlite3_errmsg(db.get())));
  }
  const auto* verdict = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
  if (verdict == nullptr || std::string_view(verdict) != "ok") {
    return absl::DataLossError(
        absl::StrCat(path, ": PRAGMA quick_check: ", verdict ? verdict : "no answer"));
  }
  return absl::OkStatus();
}

absl::Status ProbePostgres(const StoreConfig& config) {
  PgSessionLimits limits;
  limits.connect_timeout = config.postgres.connect_timeout;
  limits.statement_timeout = config.postgres.statement_timeout;
  absl::StatusOr<PgConnectParams> params = ConnectParamsFromUrl(config.url, limits);
  if (!params.ok()) return params.status();
  absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(*params);
  if (!connection.ok()) return connection.status();
  return (*connection)->Execute("SELECT 1").status();
}

}  // namespace

absl::Status ProbeStore(const StoreConfig& config) {
  const bool postgres = config.backend == StoreConfig::Backend::kPostgres;
  absl::Status status = postgres ? ProbePostgres(config) : ProbeSqlite(config.path);
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(postgres ? "store.url: " : "store.path: ", status.message()));
}

}  // namespace nodegate::store
