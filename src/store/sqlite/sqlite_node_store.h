// NodeStore on a nodegate SQLite database.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "store/node_store.h"
#include "store/sqlite/database.h"

namespace nodegate::store {

// INVALID_ARGUMENT if database is null.
absl::StatusOr<std::unique_ptr<NodeStore>> OpenSqliteNodeStore(std::shared_ptr<Database> database);

}  // namespace nodegate::store
