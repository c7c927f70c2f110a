#include "store/store_factory.h"

#include "absl/strings/str_cat.h"
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

}  // namespace nodegate::store
