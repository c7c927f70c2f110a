// The schema of a nodegate database, as ordered migrations recorded in schema_migrations.
#pragma once

#include <span>

#include "absl/status/statusor.h"
#include "store/sqlite/connection.h"

namespace nodegate::store {

struct Migration {
  int version;      // 1, 2, 3, ... in order
  const char* sql;  // applied in one transaction with its schema_migrations row
};

// All migrations this build knows, oldest first.
std::span<const Migration> Migrations();

// Applies the migrations the file lacks, in one BEGIN IMMEDIATE transaction (so concurrent
// openers apply them once). Returns the resulting schema version. FAILED_PRECONDITION, naming the
// file, if the file records a version newer than this build knows.
absl::StatusOr<int> ApplyMigrations(Connection& connection);

}  // namespace nodegate::store
