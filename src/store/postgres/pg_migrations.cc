#include "store/postgres/pg_migrations.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/codec.h"

namespace nodegate::store {
namespace {

// The advisory lock key of schema changes: "nodegate" in ASCII. Advisory locks are per database,
// so this only serialises nodegate replicas on the same database.
constexpr int64_t kMigrationLock = 0x6e6f646567617465;

// Never edit a migration that has shipped; append a new one. Text keys are COLLATE "C" so that
// ORDER BY and the page tokens compare bytes, as SQLite does. TEXT only where the store validates
// the value as ASCII (ids, hashes, roles, kind); every free-form field is BYTEA, because SQLite
// keeps any bytes there and PostgreSQL's text refuses NUL and bytes that are not UTF-8.
constexpr PgMigration kMigrations[] = {
    {1, R"sql(
CREATE TABLE store_generation (
  name  TEXT COLLATE "C" PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO store_generation (name, value) VALUES ('nodes', 0), ('credentials', 0);

CREATE TABLE nodes (
  id                       TEXT COLLATE "C" PRIMARY KEY,
  algorithm                BYTEA NOT NULL,
  public_key_pem           BYTEA NOT NULL,
  previous_algorithm       BYTEA NOT NULL,
  previous_public_key_pem  BYTEA NOT NULL,
  previous_key_valid_until BIGINT NOT NULL,
  roles                    TEXT NOT NULL,
  enabled                  BOOLEAN NOT NULL,
  cert_serial              BYTEA NOT NULL,
  created_at               BIGINT NOT NULL,
  updated_at               BIGINT NOT NULL
);

CREATE TABLE access_tokens (
  token_hash TEXT COLLATE "C" PRIMARY KEY,
  principal  BYTEA NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('user', 'node', 'app')),
  roles      TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE app_keys (
  app_key     TEXT COLLATE "C" PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  principal   BYTEA NOT NULL,
  roles       TEXT NOT NULL,
  enabled     BOOLEAN NOT NULL,
  created_at  BIGINT NOT NULL
);

CREATE TABLE join_tokens (
  token_hash TEXT COLLATE "C" PRIMARY KEY,
  node_id    TEXT NOT NULL,
  roles      TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at    BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE kv (
  key          BYTEA PRIMARY KEY,
  value        BYTEA NOT NULL,
  content_type BYTEA NOT NULL,
  updated_at   BIGINT NOT NULL
);
-- Running totals, so that limits are checked without scanning kv; its row lock serialises Sets.
CREATE TABLE kv_totals (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  keys  BIGINT NOT NULL,
  bytes BIGINT NOT NULL
);
INSERT INTO kv_totals (id, keys, bytes) VALUES (1, 0, 0);

-- One lease per port and one per job, whichever replica wrote it.
CREATE TABLE port_leases (
  port        INTEGER PRIMARY KEY CHECK (port BETWEEN 1 AND 65535),
  job_code    BYTEA NOT NULL UNIQUE,
  owner       BYTEA NOT NULL,
  acquired_at BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL
);

CREATE TABLE signature_nonces (
  node_id    BYTEA NOT NULL,
  nonce      BYTEA NOT NULL,
  digest     BYTEA NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (node_id, nonce)
);
CREATE INDEX signature_nonces_expiry ON signature_nonces (expires_at);
CREATE TABLE signature_lease (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  alive_until BIGINT NOT NULL
);
)sql"},
    {2, R"sql(
-- The node (node.id) this database belongs to, recorded by the first process that opens it for a
-- node (store/postgres/pg_database_owner.h); every replica after it must bring the same id. To
-- rename the node: stop every replica, UPDATE database_owner SET node_id = '<new id>'.
CREATE TABLE database_owner (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  node_id    TEXT COLLATE "C" NOT NULL,
  claimed_at BIGINT NOT NULL
);
)sql"},
};

}  // namespace

std::span<const PgMigration> PgMigrations() { return kMigrations; }

absl::StatusOr<int> ApplyPgMigrations(PgConnection& connection, absl::Duration timeout) {
  if (absl::Status s = connection.Exec("BEGIN"); !s.ok()) return s;
  auto body = [&]() -> absl::StatusOr<int> {
    // SET LOCAL ends with the transaction: only the migration may run (and wait) this long.
    if (absl::Status s = connection.Exec(absl::StrCat(
            "SET LOCAL statement_timeout = ",
            std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout)), "; SET LOCAL lock_timeout = ",
            std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout))));
        !s.ok()) {
      return s;
    }
    // Every replica queues here; the snapshot of each later statement is taken after the lock is
    // held, so a replica that waited sees the migrations the first one committed.
    if (absl::StatusOr<PgResult> lock =
            connection.Execute("SELECT pg_advisory_xact_lock($1)", PgParams().Int(kMigrationLock));
        !lock.ok()) {
      return lock.status();
    }
    if (absl::Status s =
            connection.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                            "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
        !s.ok()) {
      return s;
    }
    absl::StatusOr<PgResult> current =
        connection.Execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!current.ok()) return current.status();
    int version = static_cast<int>(current->Int(0, 0));
    const int latest = kMigrations[std::size(kMigrations) - 1].version;
    if (version > latest) {
      return absl::FailedPreconditionError(
          absl::StrCat("store: postgres ", connection.target(), ": database schema version ",
                       version, " is newer than this build supports (", latest,
                       "); use a newer nodegate or another database"));
    }
    for (const PgMigration& migration : kMigrations) {
      if (migration.version <= version) continue;
      if (absl::Status s = connection.Exec(migration.sql); !s.ok()) return s;
      absl::StatusOr<PgResult> record =
          connection.Execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                             PgParams().Int(migration.version).Int(EncodeTime(absl::Now())));
      if (!record.ok()) return record.status();
      version = migration.version;
    }
    return version;
  };
  absl::StatusOr<int> version = body();
  if (!version.ok()) {
    connection.Exec("ROLLBACK").IgnoreError();
    return absl::Status(version.status().code(),
                        absl::StrCat("migrating: ", version.status().message()));
  }
  if (absl::Status s = connection.Exec("COMMIT"); !s.ok()) {
    connection.Exec("ROLLBACK").IgnoreError();
    return s;
  }
  return version;
}

}  // namespace nodegate::store
