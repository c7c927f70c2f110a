// Opens the stores of a node on the backend its config names: the one place that knows which
// backends exist. Callers (server, cli) hold only the interfaces in store/stores.h.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/kv_store.h"
#include "store/stores.h"

namespace nodegate::store {

struct StoreConfig {
  enum class Backend { kSqlite, kPostgres };
  Backend backend = Backend::kSqlite;
  std::string path;  // kSqlite: the database file (created, mode 0600)
  std::string url;   // kPostgres: a libpq connection string without a password

  // kPostgres: the bounds of each process's use of the database (docs/config.md, [store]).
  struct Postgres {
    int pool_size = 4;                                    // connections per process, at most
    absl::Duration acquire_timeout = absl::Seconds(5);    // waiting for a free connection
    absl::Duration statement_timeout = absl::Seconds(5);  // per statement, on the server
    absl::Duration connect_timeout = absl::Seconds(5);    // per connection attempt
  } postgres;

  // Not a [store] key: LoadNodeConfig copies node.id here. kPostgres: the database records the
  // first node id that opens it and is refused to any other (replicas of one node share a
  // database; one under another node.id would split the fleet). kSqlite: unused, as the file
  // belongs to one host's data_dir, and renaming a lone node (a new node.id over its old data) is
  // legitimate. Empty: no check.
  std::string node_id;
};

// INVALID_ARGUMENT, saying why and never echoing a password, unless `url` is a libpq connection
// string without a password (the config module checks store.url with it at start-up).
absl::Status ValidatePostgresUrl(std::string_view url);

// "sqlite" or "postgres".
const char* BackendName(StoreConfig::Backend backend);

// Errors name the config field at fault ("store.path: ..." or "store.url: ..."). On PostgreSQL,
// FAILED_PRECONDITION if the database belongs to another node than config.node_id.
absl::StatusOr<Stores> OpenStores(const StoreConfig& config, KvLimits kv_limits = KvLimits());

// Whether a node with `config` could open its store, changing nothing (`serve --check`, `nodegate
// doctor`): SQLite — an existing file opens read-only and passes `PRAGMA quick_check`, an absent
// one could be created (the nearest existing directory above it is writable); PostgreSQL — a
// session opens within connect_timeout and answers `SELECT 1`. Errors name the field as
// OpenStores does. What the probe cannot see: migrations still to run, and PostgreSQL's owner
// check (both happen when the node opens the store).
absl::Status ProbeStore(const StoreConfig& config);

}  // namespace nodegate::store
