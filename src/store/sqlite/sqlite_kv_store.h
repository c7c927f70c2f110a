// KvStore on a nodegate SQLite database.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "store/kv_store.h"
#include "store/sqlite/database.h"

namespace nodegate::store {

// INVALID_ARGUMENT if database is null or a limit is not positive.
absl::StatusOr<std::unique_ptr<KvStore>> OpenSqliteKvStore(std::shared_ptr<Database> database,
                                                           KvLimits limits);

}  // namespace nodegate::store
