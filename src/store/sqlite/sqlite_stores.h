// Every store of a node on one SQLite database file: what `nodegate serve` and the CLI open.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "store/credential_store.h"
#include "store/kv_store.h"
#include "store/lease_store.h"
#include "store/node_store.h"
#include "store/nonce_store.h"
#include "store/sqlite/database.h"
#include "store/stores.h"

namespace nodegate::store {

// Opens (creating if absent, mode 0600) and migrates the database at `path`.
absl::StatusOr<Stores> OpenSqliteStores(const std::string& path, KvLimits kv_limits = KvLimits());

}  // namespace nodegate::store
