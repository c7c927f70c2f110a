// CredentialStore on a nodegate SQLite database.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "store/credential_store.h"
#include "store/sqlite/database.h"

namespace nodegate::store {

// INVALID_ARGUMENT if database is null.
absl::StatusOr<std::unique_ptr<CredentialStore>> OpenSqliteCredentialStore(
    std::shared_ptr<Database> database);

}  // namespace nodegate::store
