#include "store/sqlite/migrations.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/codec.h"

namespace nodegate::store {
namespace {

// Never edit a migration that has shipped; append a new one.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE store_generation (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT INTO store_generation (name, value)
  VALUES ('nodes', 0), ('credentials', 0);

CREATE TABLE nodes (
  id                       TEXT PRIMARY KEY,
  algorithm                TEXT NOT NULL,
  public_key_pem           TEXT NOT NULL,
  previous_algorithm       TEXT NOT NULL,
  previous_public_key_pem  TEXT NOT NULL,
  previous_key_valid_until INTEGER NOT NULL,
  roles                    TEXT NOT NULL,
  enabled                  INTEGER NOT NULL,
  cert_serial              TEXT NOT NULL,
  created_at               INTEGER NOT NULL,
  updated_at               INTEGER NOT NULL
);

CREATE TABLE access_tokens (
  token_hash TEXT PRIMARY KEY,
  principal  TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('user', 'node', 'app')),
  roles      TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE app_keys (
  app_key     TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  principal   TEXT NOT NULL,
  roles       TEXT NOT NULL,
  enabled     INTEGER NOT NULL,
  created_at  INTEGER NOT NULL
);

CREATE TABLE join_tokens (
  token_hash TEXT PRIMARY KEY,
  node_id    TEXT NOT NULL,
  roles      TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE kv (
  key          BLOB PRIMARY KEY,
  value        BLOB NOT NULL,
  content_type TEXT NOT NULL,
  updated_at   INTEGER NOT NULL
);
-- Running totals, so that limits are checked without scanning kv.
CREATE TABLE kv_totals (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  keys  INTEGER NOT NULL,
  bytes INTEGER NOT NULL
);
INSERT INTO kv_totals (id, keys, bytes) VALUES (1, 0, 0);

CREATE TABLE port_leases (
  port        INTEGER PRIMARY KEY,
  job_code    TEXT NOT NULL UNIQUE,
  acquired_at INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
);
)sql"},
    {2, R"sql(
-- The principal that took each lease (issue 12: leases were not tied to their caller).
ALTER TABLE port_leases ADD COLUMN owner TEXT NOT NULL DEFAULT '';
)sql"},
    {3, R"sql(
-- Nonces of signatures accepted with a timestamp ahead of the node's clock (store/nonce_store.h).
CREATE TABLE signature_nonces (
  node_id    TEXT NOT NULL,
  nonce      TEXT NOT NULL,
  digest     BLOB NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (node_id, nonce)
);
CREATE INDEX signature_nonces_expiry ON signature_nonces (expires_at);
-- Until when the node may accept signed calls (a lease it renews while it runs).
CREATE TABLE signature_lease (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  alive_until INTEGER NOT NULL
);
)sql"},
};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

absl::StatusOr<int> ApplyMigrations(Connection& connection) {
  if (absl::Status s = connection.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto body = [&]() -> absl::StatusOr<int> {
    if (absl::Status s =
            connection.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                            "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
        !s.ok()) {
      return s;
    }
    int version = 0;
    {  // the statement must be reset before the schema changes
      absl::StatusOr<Statement> current =
          connection.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      if (!current.ok()) return current.status();
      absl::StatusOr<bool> row = current->Step();
      if (!row.ok()) return row.status();
      version = static_cast<int>(current->ColumnInt(0));
    }
    const int latest = kMigrations[std::size(kMigrations) - 1].version;
    if (version > latest) {
      return absl::FailedPreconditionError(
          absl::StrCat("store: ", connection.path(), ": database schema version ", version,
                       " is newer than this build supports (", latest,
                       "); use a newer nodegate or another database file"));
    }
    for (const Migration& migration : kMigrations) {
      if (migration.version <= version) continue;
      if (absl::Status s = connection.Exec(migration.sql); !s.ok()) return s;
      absl::StatusOr<Statement> record =
          connection.Prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)");
      if (!record.ok()) return record.status();
      if (absl::Status s =
              record->BindInt(1, migration.version).BindInt(2, EncodeTime(absl::Now())).Run();
          !s.ok()) {
        return s;
      }
      version = migration.version;
    }
    return version;
  };
  absl::StatusOr<int> version = body();
  if (!version.ok()) {
    connection.Exec("ROLLBACK").IgnoreError();
    return version.status();
  }
  if (absl::Status s = connection.Exec("COMMIT"); !s.ok()) {
    connection.Exec("ROLLBACK").IgnoreError();
    return s;
  }
  return version;
}

}  // namespace nodegate::store
