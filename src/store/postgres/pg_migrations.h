// The PostgreSQL schema of a nodegate database, as ordered migrations recorded in
// schema_migrations. The same tables and meaning as the SQLite schema (store/sqlite/migrations.cc),
// with PostgreSQL types; its own version numbering.
#pragma once

#include <span>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/postgres/pg_connection.h"

namespace nodegate::store {

struct PgMigration {
  int version;      // 1, 2, 3, ... in order
  const char* sql;  // applied in one transaction with its schema_migrations row
};

// All migrations this build knows, oldest first.
std::span<const PgMigration> PgMigrations();

// Applies the migrations the database lacks, in one transaction that first takes a
// transaction-scoped advisory lock: replicas that start at the same moment queue behind the first
// one and then find nothing left to do. Returns the resulting schema version; FAILED_PRECONDITION
// if the database records a version newer than this build knows.
absl::StatusOr<int> ApplyPgMigrations(PgConnection& connection, absl::Duration timeout);

}  // namespace nodegate::store
