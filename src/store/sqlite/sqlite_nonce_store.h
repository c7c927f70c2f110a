// NonceStore on the node's SQLite database (table signature_nonces, schema v3).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "store/nonce_store.h"
#include "store/sqlite/database.h"

namespace nodegate::store {

absl::StatusOr<std::unique_ptr<NonceStore>> OpenSqliteNonceStore(
    std::shared_ptr<Database> database);

}  // namespace nodegate::store
